-- Every change to an API key is announced on the channel fp_api_keys (payload: its key id),
-- so that every serving worker holds new and revoked keys at once.
CREATE FUNCTION fp_api_keys_announce() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('fp_api_keys', COALESCE(NEW.key_id, OLD.key_id));
    RETURN NULL;
END
$$;
CREATE TRIGGER api_keys_announce AFTER INSERT OR UPDATE OR DELETE ON api_keys
    FOR EACH ROW EXECUTE FUNCTION fp_api_keys_announce();
