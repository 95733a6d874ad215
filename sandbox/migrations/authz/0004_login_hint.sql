-- OIDC login_hint: a transaction may name the only user who may sign in for it.
ALTER TABLE transactions ADD COLUMN login_hint TEXT;
