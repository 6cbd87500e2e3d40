\set id random(1, @ROWS@)
\set v random(1, 999999)
BEGIN;
SELECT * FROM @SCHEMA@.users WHERE id = :id;
UPDATE @SCHEMA@.users SET @COLUMN@ = @VALUE@ WHERE id = :id;
INSERT INTO @SCHEMA@.writes (user_id, value) VALUES (:id, (@VALUE@)::text);
INSERT INTO @SCHEMA@.users (email, @COLUMN@) VALUES ('new' || :v || '@example.com', @VALUE@) RETURNING id AS new_id \gset
INSERT INTO @SCHEMA@.writes (user_id, value) VALUES (:new_id, (@VALUE@)::text);
INSERT INTO @SCHEMA@.orders (user_id, total) VALUES (:id, :v);
SELECT total FROM @SCHEMA@.orders WHERE id = :id;
END;
