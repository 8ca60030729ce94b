-- events (stream_id, time) was never used by a query: reading a stream "as of" a time filters
-- on recorded_at within the stream's (stream_id, version) index. Every index is paid for on
-- every append.
DROP INDEX IF EXISTS events_time_idx;
