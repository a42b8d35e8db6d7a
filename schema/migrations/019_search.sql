-- Message search (backend-server/api_search.c, docs/protocol.md "Search"):
-- full-text search over the current text of chat messages.
--
-- The current text of message m is the payload of its latest 'edit', else
-- its own (docs: issue 13's record kinds). Both kinds are indexed, so a
-- match is found whichever record holds the text, and the query keeps only
-- the record that is current (no later edit of the same target) of a
-- message no 'delete' targets.
--
-- An expression index, not a stored tsvector column: adding a generated
-- column rewrites the whole table under an exclusive lock, and would store
-- each vector twice (heap and index). The index is partial, on the kinds
-- search reads, so reactions, files and other applications' records cost it
-- nothing. The configuration is 'simple' (lower-cased words, no stemming,
-- no stop words): rooms mix languages and scripts, and a stemmer for one
-- language mangles words of every other one; 'simple' finds a word in any
-- script, exactly as typed (case aside). It is spelt as a regconfig
-- constant so that the expression is immutable; api_search.c uses the very
-- same expression, or the planner would not use the index.
--
-- "The latest edit of m" and "is m deleted" use migration 018's index on
-- records (room_id, target).
--
-- CREATE INDEX (not CONCURRENTLY: a migration is one transaction) blocks
-- writes to records while it builds: on a large table, apply this migration
-- at a quiet time (README, "Search").
CREATE INDEX records_search ON records
	USING gin (to_tsvector('simple'::regconfig, payload))
	WHERE kind IN ('message', 'edit');

