//! The facts of a transfer precheck, read from PostgreSQL (`store::bank::precheck`): one
//! round trip, no transaction, no lock.

use super::PgBank;
use crate::store::StoreError;
use crate::store::bank::precheck::{Facts, PlannedTransfer};

impl PgBank {
    pub(in crate::store::bank) async fn transfer_facts(
        &self,
        plan: &PlannedTransfer,
    ) -> Result<Facts, StoreError> {
        let client = self.client().await?;
        let stmt = client
            .prepare_cached(
                "SELECT
                   (SELECT request_hash FROM idempotency_keys WHERE account_id = $1 AND key = $2),
                   s.balance_minor, s.currency, r.id, r.currency
                 FROM (SELECT 1) AS one
                 LEFT JOIN accounts s ON s.id = $1
                 LEFT JOIN accounts r ON r.handle = $3",
            )
            .await?;
        let row = client
            .query_one(
                &stmt,
                &[&plan.from_account, &plan.idempotency_key, &plan.to_handle],
            )
            .await?;
        let sender = match (
            row.get::<_, Option<i64>>(1),
            row.get::<_, Option<String>>(2),
        ) {
            (Some(balance), Some(currency)) => Some((balance, currency)),
            _ => None,
        };
        let recipient = match (
            row.get::<_, Option<i64>>(3),
            row.get::<_, Option<String>>(4),
        ) {
            (Some(id), Some(currency)) => Some((id, currency)),
            _ => None,
        };
        Ok(Facts {
            previous_hash: row.get(0),
            sender,
            recipient,
        })
    }
}
