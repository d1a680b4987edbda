-- API keys carry scopes: what a key may do, chosen when it is made. Keys
-- made before scopes keep everything they could do, except sending
-- messages to customers, which no key could do then.
ALTER TABLE api_keys ADD COLUMN scopes TEXT NOT NULL DEFAULT 'read,eligibility,preferences,conversions,outbound';

-- Sign-in attempts older than the lockout window are pruned by time.
CREATE INDEX login_failures_at ON login_failures (at);
