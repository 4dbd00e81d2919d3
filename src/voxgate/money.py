"""Money is integer micro-USD everywhere; these turn it into the dollar strings people read."""

from voxgate.types import MicroUSD

MICRO = 1_000_000


def format_usd(amount: MicroUSD) -> str:
    """Micro-USD as a dollar string with six decimals, e.g. 10000 → "0.010000"."""
    sign = "-" if amount < 0 else ""
    whole, micros = divmod(abs(amount), MICRO)
    return f"{sign}{whole}.{micros:06d}"
