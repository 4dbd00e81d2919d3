"""Money: prices, holds, settlement, the ledger and usage records, in integer micro-USD."""
