-- 0005: reserved for another branch's migration (issue 13 work in parallel).
-- This placeholder exists only so that 0006 follows without a gap on the `peers`
-- branch; it changes nothing. When the real 0005 is merged, delete this file.
SELECT 1;
