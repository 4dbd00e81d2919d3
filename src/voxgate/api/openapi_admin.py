"""The admin API's limits, budgets, margins, roles and alerts, as /openapi.json lists them."""

from typing import Any

from pydantic import BaseModel

from voxgate.api.admin import KeyLimits, MarginQuery, NewOwnerToken
from voxgate.api.admin_budgets import Limits as BudgetLimitsBody
from voxgate.api.admin_budgets import NewBudget
from voxgate.api.admin_webhooks import NewWebhook

REF_TEMPLATE = "#/components/schemas/{model}"
WORKSPACE = "/admin/v1/workspaces/{workspace_id}"


def _schema(model: type[BaseModel]) -> dict[str, Any]:
    return model.model_json_schema(ref_template=REF_TEMPLATE)


# Limits, budgets, margins, roles and alerts: the admin token, or (where a workspace is named)
# that workspace's owner token.
ADMIN_MONEY_OPERATIONS: list[tuple[str, str, str, str, Any, Any]] = [
    ("get", f"{WORKSPACE}/keys/{{key_id}}", "A key's limits and spend.", "adminToken", None, None),
    (
        "patch",
        f"{WORKSPACE}/keys/{{key_id}}",
        "Change a key's limits (one left out is lifted).",
        "adminToken",
        _schema(KeyLimits),
        None,
    ),
    (
        "get",
        f"{WORKSPACE}/budgets",
        "A workspace's budgets and their use this period.",
        "adminToken",
        None,
        None,
    ),
    (
        "post",
        f"{WORKSPACE}/budgets",
        "Add a daily or monthly budget to a workspace or one of its keys.",
        "adminToken",
        _schema(NewBudget),
        None,
    ),
    (
        "patch",
        f"{WORKSPACE}/budgets/{{budget_id}}",
        "Change a budget's limits (one left out is lifted).",
        "adminToken",
        _schema(BudgetLimitsBody),
        None,
    ),
    ("delete", f"{WORKSPACE}/budgets/{{budget_id}}", "Lift a budget.", "adminToken", None, None),
    (
        "get",
        f"{WORKSPACE}/owner_tokens",
        "A workspace's owner tokens (operator only).",
        "adminToken",
        None,
        None,
    ),
    (
        "post",
        f"{WORKSPACE}/owner_tokens",
        "A token for the workspace's owner; the secret is shown once (operator only).",
        "adminToken",
        _schema(NewOwnerToken),
        None,
    ),
    (
        "post",
        f"{WORKSPACE}/owner_tokens/{{token_id}}/revoke",
        "Revoke an owner token (operator only).",
        "adminToken",
        None,
        None,
    ),
    (
        "get",
        "/admin/v1/margins",
        "Charged beside the providers' cost, per model and route (operator only).",
        "adminToken",
        None,
        MarginQuery,
    ),
    ("get", "/admin/v1/webhooks", "The alert webhooks (operator only).", "adminToken", None, None),
    (
        "post",
        "/admin/v1/webhooks",
        "Send alerts to a URL, signed; the secret is shown once (operator only).",
        "adminToken",
        _schema(NewWebhook),
        None,
    ),
    (
        "delete",
        "/admin/v1/webhooks/{webhook_id}",
        "Remove a webhook (operator only).",
        "adminToken",
        None,
        None,
    ),
    (
        "get",
        "/admin/v1/webhooks/{webhook_id}/deliveries",
        "A webhook's delivery log (operator only).",
        "adminToken",
        None,
        None,
    ),
]
