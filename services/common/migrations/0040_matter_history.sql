-- The matter in force and its history (issue 14): a handler's correction at `accept`
-- (accepted.v1's optional matter_type_code) replaces the classified matter; every code in
-- force is kept, oldest first: [{code, name, by: classified|accepted, at, version}].
-- Rows projected before this column are filled by `shouwen rebuild --from-store`.
ALTER TABLE case_summary ADD COLUMN IF NOT EXISTS matter_history jsonb NOT NULL DEFAULT '[]';
