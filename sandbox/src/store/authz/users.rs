//! Users: created from the config's seeds or `bank-sandbox users add`, looked up by the
//! login form (by name) and by everything that holds a user id.

use rusqlite::{OptionalExtension, params};

use super::super::StoreError;
use super::AuthzStore;

#[derive(Debug, Clone)]
pub struct UserRecord {
    pub id: i64,
    pub sub: String,
    pub username: String,
    pub display_name: String,
    /// PHC string (argon2id); not a secret in itself, but never logged either.
    pub password_hash: String,
}

impl AuthzStore {
    /// Creates the user unless the username is taken; returns whether it was created.
    pub fn create_user_if_absent(
        &self,
        sub: &str,
        username: &str,
        display_name: &str,
        password_hash: &str,
        now: i64,
    ) -> Result<bool, StoreError> {
        let n = self.conn().execute(
            "INSERT INTO users (sub, username, display_name, password_hash, created_at)
             VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT(username) DO NOTHING",
            params![sub, username, display_name, password_hash, now],
        )?;
        Ok(n == 1)
    }

    pub fn user_by_username(&self, username: &str) -> Result<Option<UserRecord>, StoreError> {
        self.user_where("username = ?1", username)
    }

    pub fn user_by_id(&self, id: i64) -> Result<Option<UserRecord>, StoreError> {
        self.user_where("id = ?1", id)
    }

    fn user_where(
        &self,
        cond: &str,
        value: impl rusqlite::ToSql,
    ) -> Result<Option<UserRecord>, StoreError> {
        let sql = format!(
            "SELECT id, sub, username, display_name, password_hash FROM users WHERE {cond}"
        );
        Ok(self
            .conn()
            .query_row(&sql, [value], |r| {
                Ok(UserRecord {
                    id: r.get(0)?,
                    sub: r.get(1)?,
                    username: r.get(2)?,
                    display_name: r.get(3)?,
                    password_hash: r.get(4)?,
                })
            })
            .optional()?)
    }

    pub fn usernames(&self) -> Result<Vec<String>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn.prepare("SELECT username FROM users ORDER BY id")?;
        let rows = stmt.query_map([], |r| r.get(0))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }
}
