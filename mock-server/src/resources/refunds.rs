//! Refunds: create, retrieve, list. A refund succeeds at once, reduces the
//! charge's refundable amount and records a negative balance transaction.

use serde_json::{Map, Value, json};

use super::customers::origin;
use super::{CreatedFilter, fetch, list_where, save};
use crate::account::AccountData;
use crate::api::Ctx;
use crate::events::{changed_fields, emit};
use crate::wire::list::Page;
use crate::wire::{ApiError, ApiResult, Params, metadata};

pub fn create(ctx: &mut Ctx<'_>, data: &mut AccountData, mut params: Params) -> ApiResult<Value> {
    params.forbid_empty(&[]);
    let charge_param = params.string("charge")?.filter(|s| !s.is_empty());
    let pi_param = params.string("payment_intent")?.filter(|s| !s.is_empty());
    let amount = params.integer("amount")?;
    let reason = params.one_of(
        "reason",
        &["duplicate", "fraudulent", "requested_by_customer"],
    )?;
    let meta = match params.hash("metadata")? {
        Some(update) => metadata::apply(&Map::new(), update)?,
        None => Map::new(),
    };
    params.finish()?;
    let charge_id = match (charge_param, pi_param) {
        (Some(_), Some(_)) => {
            return Err(ApiError::invalid_param(
                "payment_intent",
                "You may only specify one of these parameters: charge, payment_intent.",
            ));
        }
        (Some(id), None) => {
            if !data.store.contains("charge", &id) {
                return Err(ApiError::no_such_param("charge", &id, "charge"));
            }
            id
        }
        (None, Some(pi_id)) => {
            let pi = data.store.get("payment_intent", &pi_id).ok_or_else(|| {
                ApiError::no_such_param("payment_intent", &pi_id, "payment_intent")
            })?;
            match (pi["status"].as_str(), pi["latest_charge"].as_str()) {
                (Some("succeeded"), Some(charge)) => charge.to_owned(),
                (status, _) => {
                    return Err(ApiError::bad_state(format!(
                        "This PaymentIntent does not have a successful charge to refund (status {}).",
                        status.unwrap_or_default()
                    ))
                    .with_param("payment_intent"));
                }
            }
        }
        (None, None) => return Err(ApiError::missing_param("charge")),
    };
    let mut charge = fetch(data, "charge", "charge", &charge_id)?;
    if charge["status"] != "succeeded" || charge["captured"] != json!(true) {
        return Err(ApiError::bad_state(format!(
            "Charge {charge_id} has not succeeded and cannot be refunded."
        ))
        .with_param("charge"));
    }
    // After a partial capture, the uncaptured part already counts as
    // refunded, so what is left is the amount less everything refunded.
    let charged = charge["amount"].as_i64().unwrap_or(0);
    let refundable = charged - charge["amount_refunded"].as_i64().unwrap_or(0);
    if refundable <= 0 {
        return Err(
            ApiError::bad_state(format!("Charge {charge_id} has already been refunded."))
                .with_code("charge_already_refunded"),
        );
    }
    let amount = amount.unwrap_or(refundable);
    if amount < 1 {
        return Err(ApiError::invalid_param(
            "amount",
            format!("Invalid amount: a refund must be at least 1, got {amount}."),
        ));
    }
    if amount > refundable {
        return Err(ApiError::invalid_param(
            "amount",
            format!(
                "Refund amount ({amount}) is greater than the unrefunded amount on the charge ({refundable})."
            ),
        ));
    }
    let now = data.now();
    let txn_id = data.new_id("txn_");
    let refund_id = data.new_id("re_");
    save(
        data,
        "balance_transaction",
        &txn_id,
        &json!({
            "id": txn_id, "object": "balance_transaction", "amount": -amount, "available_on": now,
            "created": now, "currency": charge["currency"], "description": "REFUND FOR CHARGE", "exchange_rate": null,
            "fee": 0, "fee_details": [], "net": -amount, "reporting_category": "refund", "source": refund_id,
            "status": "available", "type": "refund",
        }),
    );
    let refund = json!({
        "id": refund_id,
        "object": "refund",
        "amount": amount,
        "balance_transaction": txn_id,
        "charge": charge_id,
        "created": now,
        "currency": charge["currency"],
        "destination_details": null,
        "metadata": meta,
        "payment_intent": charge["payment_intent"],
        "reason": reason,
        "receipt_number": null,
        "source_transfer_reversal": null,
        "status": "succeeded",
        "transfer_reversal": null,
    });
    save(data, "refund", &refund_id, &refund);
    let before = charge.clone();
    let refunded_total = charge["amount_refunded"].as_i64().unwrap_or(0) + amount;
    charge["amount_refunded"] = json!(refunded_total);
    charge["refunded"] = json!(refunded_total == charged);
    save(data, "charge", &charge_id, &charge);
    let origin = origin(ctx);
    emit(data, "refund.created", &refund, None, &origin);
    emit(
        data,
        "charge.refunded",
        &charge,
        Some(changed_fields(&before, &charge)),
        &origin,
    );
    ctx.touch(&refund_id);
    Ok(refund)
}

pub fn retrieve(ctx: &mut Ctx<'_>, data: &mut AccountData, params: Params) -> ApiResult<Value> {
    params.finish()?;
    let id = ctx.arg(0).to_owned();
    ctx.touch(&id);
    fetch(data, "refund", "refund", &id)
}

pub fn list(ctx: &mut Ctx<'_>, data: &mut AccountData, mut params: Params) -> ApiResult<Value> {
    let page = Page::take(&mut params)?;
    let charge = super::take_filter(data, &mut params, "charge", "charge")?;
    let payment_intent = super::take_filter(data, &mut params, "payment_intent", "payment_intent")?;
    let created = CreatedFilter::take(&mut params)?;
    params.finish()?;
    list_where(ctx, data, "refund", &page, |r| {
        charge.as_ref().is_none_or(|id| r["charge"] == json!(id))
            && payment_intent
                .as_ref()
                .is_none_or(|id| r["payment_intent"] == json!(id))
            && created.matches(r)
    })
}
