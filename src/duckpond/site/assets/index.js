/* DuckPond site index: ready once fresh.js (inlined before it) has checked the stale warnings. */
document.body.dataset.ready = '1';
