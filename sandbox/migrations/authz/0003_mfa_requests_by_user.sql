-- The per-user limit on MFA pushes counts a user's recent requests.
CREATE INDEX mfa_requests_by_user ON mfa_requests(user_id, created_at);
