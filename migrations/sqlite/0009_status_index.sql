-- Only statuses are looked up by provider id (delivery facts for the
-- reports). Customer replies were indexed too, one more random-order
-- B-tree insert on every webhook the desk stores.
DROP INDEX events_provider_id;
CREATE INDEX events_status_provider_id ON events (provider_id) WHERE kind = 'status';
