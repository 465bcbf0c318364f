/* DuckPond site: the stale warnings (of the index cards and of a chart page), re-checked with the
 * viewer's clock (a page may be read long after it was built). A line is stale when its newest
 * reading is older than data-stale-after-s seconds. */
(function () {
  'use strict';
  var now = Date.now() * 1000;
  document.querySelectorAll('.fresh[data-stale-after-s]').forEach(function (el) {
    var newest = Number(el.dataset.newestUs);
    var limit = Number(el.dataset.staleAfterS) * 1e6;
    var stale = now - newest > limit;
    el.classList.toggle('is-stale', stale);
    var warning = el.querySelector('.stale-warning');
    if (warning) warning.hidden = !stale;
  });
})();
