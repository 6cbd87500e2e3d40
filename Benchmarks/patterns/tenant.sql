CREATE SCHEMA @SCHEMA@;
CREATE TABLE @SCHEMA@.users (id bigserial PRIMARY KEY, email text NOT NULL, phone_number text,
    score integer NOT NULL DEFAULT 0, created_at timestamptz NOT NULL DEFAULT now());
INSERT INTO @SCHEMA@.users (email, phone_number, score)
    SELECT 'user' || g || '@example.com', CASE WHEN g % 7 = 0 THEN NULL ELSE '+1-555-' || g END, g % 1000
    FROM generate_series(1, @ROWS@) AS g;
CREATE TABLE @SCHEMA@.orders (id bigserial PRIMARY KEY, user_id bigint NOT NULL, total integer NOT NULL);
INSERT INTO @SCHEMA@.orders (user_id, total) SELECT 1 + g % @ROWS@, g FROM generate_series(1, @ROWS@) AS g;
CREATE TABLE @SCHEMA@.writes (id bigserial PRIMARY KEY, user_id bigint NOT NULL, value text);
ANALYZE @SCHEMA@.users;
ANALYZE @SCHEMA@.orders;
