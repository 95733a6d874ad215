//! The DPoP proofs the token endpoint accepted (their replay cache) and the keys grants
//! are bound to.

use rusqlite::params;

use super::super::StoreError;
use super::AuthzStore;
use crate::dpop::ReplayCache;

impl AuthzStore {
    /// Records an accepted proof until `expires_at`; false when a live record has it.
    pub fn remember_dpop_proof(
        &self,
        key: &[u8; 32],
        expires_at: i64,
        now: i64,
    ) -> Result<bool, StoreError> {
        // An entry that has expired (and awaits the purge) no longer counts.
        let changed = self.conn().execute(
            "INSERT INTO dpop_proofs (proof_key, expires_at) VALUES (?1, ?2)
             ON CONFLICT (proof_key) DO UPDATE SET expires_at = excluded.expires_at
             WHERE dpop_proofs.expires_at < ?3",
            params![&key[..], expires_at, now],
        )?;
        Ok(changed == 1)
    }

    /// Binds a grant's refresh-token family to a DPoP key, unless it already is bound.
    pub fn bind_grant_to_dpop_key(&self, grant_id: &str, jkt: &str) -> Result<(), StoreError> {
        self.conn().execute(
            "UPDATE grants SET dpop_jkt = ?2 WHERE id = ?1 AND dpop_jkt IS NULL",
            params![grant_id, jkt],
        )?;
        Ok(())
    }
}

impl ReplayCache for AuthzStore {
    async fn remember_proof(
        &self,
        key: [u8; 32],
        expires_at: i64,
        now: i64,
    ) -> Result<bool, StoreError> {
        // One indexed insert on the authorization server's own SQLite file, as every other
        // call of the token endpoint makes.
        self.remember_dpop_proof(&key, expires_at, now)
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::store;

    #[test]
    fn a_proof_is_remembered_until_it_expires() {
        let store = store();
        assert!(store.remember_dpop_proof(&[1; 32], 100, 50).expect("first"));
        assert!(
            !store
                .remember_dpop_proof(&[1; 32], 100, 99)
                .expect("replay")
        );
        assert!(
            !store
                .remember_dpop_proof(&[1; 32], 100, 100)
                .expect("last second")
        );
        assert!(
            store
                .remember_dpop_proof(&[1; 32], 200, 101)
                .expect("after expiry")
        );
        assert!(
            store
                .remember_dpop_proof(&[2; 32], 100, 50)
                .expect("another key")
        );
    }
}
