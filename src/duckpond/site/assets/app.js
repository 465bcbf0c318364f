/* DuckPond site frontend: range buttons, resolution choice, Parquet part loading, uPlot charts.
 *
 * A classic script (not a module) so that the site also works opened from disk (file://), where
 * Chromium refuses module scripts and fetch(). Over http(s) each Parquet part is fetched; from disk
 * the same bytes are loaded from a sibling "<part>.js" file that calls duckpondPart(url, base64).
 *
 * Resolution rule (same as duckpond.site.render.choose_resolution): the visible range
 * [start, end] ends at the end of the latest bucket and starts `span` earlier, clipped to the first
 * bucket; use the coarsest resolution with at least cfg.minPoints buckets in the range, else the
 * finest; load the parts of that resolution whose [start_us, end_us + width) overlaps the range.
 *
 * For tests: window.duckpond = {state, valueAt(chart, series, timeUs), setRange(key)};
 * document.body.dataset.ready is "1" after each draw, "0" while loading.
 */
(function () {
  'use strict';

  var cfgEl = document.getElementById('duckpond-config');
  if (!cfgEl) return; // the index page has no charts
  var cfg = JSON.parse(cfgEl.textContent);
  var body = document.body;
  var isFile = location.protocol === 'file:';
  var TIME = 'Timestamp';
  // uPlot time tick formats, 24-hour clock: [tick incr (s), format, then formats used where the
  // year / month / day / hour / minute / second changes, mode]
  var TIME_TICKS = [
    [3600 * 24 * 365, '{YYYY}', null, null, null, null, null, null, 1],
    [3600 * 24 * 28, '{MMM}', '\n{YYYY}', null, null, null, null, null, 1],
    [3600 * 24, '{MMM} {D}', '\n{YYYY}', null, null, null, null, null, 1],
    [3600, '{HH}:{mm}', '\n{YYYY}-{MM}-{DD}', null, '\n{MMM} {D}', null, null, null, 1],
    [60, '{HH}:{mm}', '\n{YYYY}-{MM}-{DD}', null, '\n{MMM} {D}', null, null, null, 1],
    [1, '{HH}:{mm}:{ss}', '\n{YYYY}-{MM}-{DD}', null, '\n{MMM} {D}', null, null, null, 1],
  ];
  var COLORS = ['#1f77b4', '#d62728', '#2ca02c', '#9467bd', '#ff7f0e', '#17becf', '#8c564b', '#e377c2'];

  // the config lists each part as [path under base, start_us, end_us, rows, bytes]; expand it
  cfg.resolutions.forEach(function (r) {
    r.files = r.files.map(function (f) {
      var url = r.base + f[0];
      return { url: url, js: url + '.js', start_us: f[1], end_us: f[2], rows: f[3], bytes: f[4] };
    });
  });
  var resolutions = cfg.resolutions.slice().sort(function (a, b) { return a.seconds - b.seconds; });
  var columns = [];
  cfg.charts.forEach(function (c) {
    c.series.forEach(function (s) {
      ['avg', 'min', 'max'].forEach(function (stat) {
        var name = s.column + '.' + stat;
        if (columns.indexOf(name) < 0) columns.push(name);
      });
    });
  });

  var state = {
    range: null,        // key of the range button, or "custom" after a drag-select
    resolution: null,   // name of the resolution drawn
    startUs: 0,         // visible range
    endUs: 0,
    loadedUrls: [],     // the parts the current view is drawn from
    fetchedUrls: [],    // every part fetched since the page opened (each at most once)
    points: 0,          // buckets of the drawn resolution inside the visible range
    bytes: 0,           // size of the parts in loadedUrls
    tz: 'utc',
    error: null,
    firstDrawMs: null,  // performance.now() when the first view was drawn
  };
  var view = null;      // {res, ts: Float64Array (us), cols: {name: Array}}
  var plots = [];
  var partCache = new Map();
  var pendingScripts = new Map();
  var drawToken = 0;

  body.dataset.ready = '0';

  // ---------------------------------------------------------------- formatting

  function formatValue(v) {
    if (v === null || v === undefined || !isFinite(v)) return '–';
    var a = Math.abs(v);
    if (a >= 1000) return v.toFixed(0);
    if (a >= 100) return v.toFixed(1);
    if (a >= 1 || a === 0) return v.toFixed(2);
    return String(Number(v.toPrecision(3)));
  }

  function pad(n) { return (n < 10 ? '0' : '') + n; }

  function offsetLabel(d) {
    var off = -d.getTimezoneOffset();
    var sign = off >= 0 ? '+' : '-';
    off = Math.abs(off);
    return 'UTC' + sign + pad(Math.floor(off / 60)) + ':' + pad(off % 60);
  }

  function formatTime(us) {
    var d = new Date(us / 1000);
    if (state.tz === 'utc') {
      return d.getUTCFullYear() + '-' + pad(d.getUTCMonth() + 1) + '-' + pad(d.getUTCDate()) + ' ' +
        pad(d.getUTCHours()) + ':' + pad(d.getUTCMinutes()) + ' ' + cfg.timezoneLabel;
    }
    return d.getFullYear() + '-' + pad(d.getMonth() + 1) + '-' + pad(d.getDate()) + ' ' +
      pad(d.getHours()) + ':' + pad(d.getMinutes()) + ' ' + offsetLabel(d);
  }

  function formatBytes(n) {
    if (n < 1024) return n + ' B';
    if (n < 1024 * 1024) return (n / 1024).toFixed(1) + ' KB';
    return (n / 1024 / 1024).toFixed(1) + ' MB';
  }

  function setStatus(text, isError) {
    var el = document.querySelector('.status');
    if (!el) return;
    el.textContent = text;
    el.classList.toggle('error', !!isError);
  }

  // ---------------------------------------------------------------- choosing what to load

  function rangeBounds(key) {
    var end = cfg.dataEndUs;
    var start = cfg.dataStartUs;
    var r = cfg.ranges.filter(function (x) { return x.key === key; })[0];
    if (r && r.seconds !== null) start = Math.max(start, end - r.seconds * 1e6);
    return { start: start, end: end };
  }

  function chooseResolution(start, end) {
    var span = end - start;
    for (var i = resolutions.length - 1; i >= 0; i--) {
      if (span >= cfg.minPoints * resolutions[i].seconds * 1e6) return resolutions[i];
    }
    return resolutions[0];
  }

  function overlapping(res, start, end) {
    var width = res.seconds * 1e6;
    return res.files.filter(function (f) { return f.start_us < end && f.end_us + width > start; });
  }

  // ---------------------------------------------------------------- loading parts

  window.duckpondPart = function (url, b64) {
    var p = pendingScripts.get(url);
    if (!p) return;
    pendingScripts.delete(url);
    var bin = atob(b64);
    var bytes = new Uint8Array(bin.length);
    for (var i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
    p.resolve(bytes.buffer);
  };

  function loadBytesFromScript(file) {
    return new Promise(function (resolve, reject) {
      pendingScripts.set(file.url, { resolve: resolve });
      var s = document.createElement('script');
      s.src = file.js;
      s.onload = function () {
        s.remove();
        if (pendingScripts.has(file.url)) {
          pendingScripts.delete(file.url);
          reject(new Error('no data in ' + file.js));
        }
      };
      s.onerror = function () {
        s.remove();
        pendingScripts.delete(file.url);
        reject(new Error('cannot load ' + file.js));
      };
      document.head.appendChild(s);
    });
  }

  function loadBytes(file) {
    if (isFile) return loadBytesFromScript(file);
    return fetch(file.url).then(function (r) {
      if (!r.ok) throw new Error(file.url + ': HTTP ' + r.status);
      return r.arrayBuffer();
    });
  }

  function parsePart(buf) {
    var meta = hyparquet.parquetMetadata(buf);
    var present = {};
    meta.schema.forEach(function (el) { present[el.name] = true; });
    var wanted = [TIME].concat(columns.filter(function (c) { return present[c]; }));
    return new Promise(function (resolve, reject) {
      hyparquet.parquetRead({
        file: buf,
        metadata: meta,
        columns: wanted,
        parsers: { timestampFromMicroseconds: function (v) { return Number(v); } },
        onComplete: function (rows) {
          var n = rows.length;
          var ts = new Float64Array(n);
          var cols = {};
          columns.forEach(function (c) { cols[c] = new Array(n).fill(null); });
          for (var i = 0; i < n; i++) {
            var row = rows[i];
            ts[i] = row[0];
            for (var j = 1; j < wanted.length; j++) {
              var v = row[j];
              cols[wanted[j]][i] = v === undefined ? null : v;
            }
          }
          resolve({ ts: ts, cols: cols });
        },
      }).catch(reject);
    });
  }

  function loadPart(file) {
    var p = partCache.get(file.url);
    if (!p) {
      p = loadBytes(file).then(parsePart);
      p.then(function () { state.fetchedUrls.push(file.url); }, function () {
        partCache.delete(file.url); // let a later view try again
      });
      partCache.set(file.url, p);
    }
    return p;
  }

  function merge(parts) {
    // parts are sorted by start time; concatenate, dropping a repeated bucket if parts overlap
    var n = 0;
    parts.forEach(function (p) { n += p.ts.length; });
    var ts = new Float64Array(n);
    var cols = {};
    columns.forEach(function (c) { cols[c] = new Array(n); });
    var k = 0;
    var last = -Infinity;
    parts.forEach(function (p) {
      for (var i = 0; i < p.ts.length; i++) {
        if (p.ts[i] <= last) continue;
        last = p.ts[i];
        ts[k] = p.ts[i];
        for (var j = 0; j < columns.length; j++) cols[columns[j]][k] = p.cols[columns[j]][i];
        k++;
      }
    });
    ts = ts.slice(0, k);
    columns.forEach(function (c) { cols[c].length = k; });
    return { ts: ts, cols: cols };
  }

  // ---------------------------------------------------------------- drawing

  function chartData(ci) {
    // uPlot aligned data: x (s), then per series max, min, avg; null breaks lines at gaps
    var chart = cfg.charts[ci];
    var step = view.res.seconds * 1e6;
    var x = [];
    var ys = [];
    chart.series.forEach(function () { ys.push([], [], []); });
    var ts = view.ts;
    for (var i = 0; i < ts.length; i++) {
      if (i > 0 && ts[i] - ts[i - 1] > step) {
        x.push((ts[i - 1] + step) / 1e6);
        for (var g = 0; g < ys.length; g++) ys[g].push(null);
      }
      x.push(ts[i] / 1e6);
      chart.series.forEach(function (s, si) {
        ys[3 * si].push(view.cols[s.column + '.max'][i]);
        ys[3 * si + 1].push(view.cols[s.column + '.min'][i]);
        ys[3 * si + 2].push(view.cols[s.column + '.avg'][i]);
      });
    }
    return [x].concat(ys);
  }

  function hexToRgba(hex, alpha) {
    var n = parseInt(hex.slice(1), 16);
    return 'rgba(' + ((n >> 16) & 255) + ',' + ((n >> 8) & 255) + ',' + (n & 255) + ',' + alpha + ')';
  }

  function timeAxisLabel() {
    if (state.tz === 'utc') return 'Time (' + cfg.timezoneLabel + ')';
    var zone = '';
    try {
      zone = Intl.DateTimeFormat().resolvedOptions().timeZone || '';
    } catch (e) { /* old browsers: fall back to the offset */ }
    return 'Time (local, ' + (zone || offsetLabel(new Date(state.endUs / 1000))) + ')';
  }

  function updateReadout(u, ci) {
    var el = u.root.closest('.chart').querySelector('.readout');
    var idx = u.cursor.idx;
    var chart = cfg.charts[ci];
    if (idx === null || idx === undefined || u.data[0][idx] === undefined) {
      el.textContent = 'Hover over the chart to read values (' + view.res.name + ' buckets).';
      return;
    }
    var parts = [formatTime(u.data[0][idx] * 1e6)];
    chart.series.forEach(function (s, si) {
      var avg = u.data[3 * si + 3][idx];
      var mn = u.data[3 * si + 2][idx];
      var mx = u.data[3 * si + 1][idx];
      var text = s.label + ': ' + formatValue(avg) + ' ' + chart.unit;
      if (avg !== null && avg !== undefined) {
        text += ' (min ' + formatValue(mn) + ', max ' + formatValue(mx) + ')';
      }
      parts.push(text);
    });
    el.textContent = parts.join(' · ');
  }

  function buildLegend(section, ci) {
    var chart = cfg.charts[ci];
    var legend = section.querySelector('.legend');
    legend.textContent = '';
    chart.series.forEach(function (s, si) {
      var color = COLORS[si % COLORS.length];
      var item = document.createElement('button');
      item.type = 'button';
      item.className = 'legend-item';
      item.setAttribute('aria-pressed', 'true');
      item.title = 'Show or hide ' + s.label;
      var sw = document.createElement('span');
      sw.className = 'swatch';
      sw.style.background = hexToRgba(color, 0.25);
      sw.style.borderColor = color;
      item.appendChild(sw);
      item.appendChild(document.createTextNode(s.label + ' (' + chart.unit + '), min–max band'));
      item.addEventListener('click', function () {
        var on = item.getAttribute('aria-pressed') !== 'true';
        item.setAttribute('aria-pressed', on ? 'true' : 'false');
        var u = plots[ci];
        if (!u) return;
        u.batch(function () {
          for (var k = 1; k <= 3; k++) u.setSeries(3 * si + k, { show: on });
        });
      });
      legend.appendChild(item);
    });
  }

  function plotWidth(el) {
    return Math.max(320, Math.floor(el.getBoundingClientRect().width || 800));
  }

  function makePlot(ci) {
    var chart = cfg.charts[ci];
    var section = document.querySelector('.chart[data-chart="' + ci + '"]');
    var target = section.querySelector('.plot');
    var series = [{
      value: function (u, v) { return v === null ? '–' : formatTime(v * 1e6); },
    }];
    var bands = [];
    chart.series.forEach(function (s, si) {
      var color = COLORS[si % COLORS.length];
      var base = 3 * si + 1;
      series.push(
        { label: s.label + ' max', scale: 'y', stroke: 'transparent', width: 0, points: { show: false } },
        { label: s.label + ' min', scale: 'y', stroke: 'transparent', width: 0, points: { show: false } },
        { label: s.label, scale: 'y', stroke: color, width: 1.5, points: { show: false } }
      );
      bands.push({ series: [base, base + 1], fill: hexToRgba(color, 0.22) });
    });
    var opts = {
      width: plotWidth(target),
      height: 300,
      tzDate: function (ts) {
        return state.tz === 'utc' ? uPlot.tzDate(new Date(ts * 1e3), 'Etc/UTC') : new Date(ts * 1e3);
      },
      legend: { show: false },
      cursor: {
        sync: { key: 'duckpond-' + cfg.slug },
        drag: { x: true, y: false, setScale: false },
        points: { size: 7 },
      },
      scales: {
        x: { time: true, range: function () { return [state.startUs / 1e6, state.endUs / 1e6]; } },
        y: { auto: true },
      },
      axes: [
        { label: timeAxisLabel(), labelSize: 20, values: TIME_TICKS },
        {
          scale: 'y',
          label: chart.unit,
          labelSize: 20,
          size: 60,
        },
      ],
      series: series,
      bands: bands,
      hooks: {
        setCursor: [function (u) { updateReadout(u, ci); }],
        setSelect: [function (u) {
          var sel = u.select;
          if (sel.width < 5) return;
          var a = u.posToVal(sel.left, 'x') * 1e6;
          var b = u.posToVal(sel.left + sel.width, 'x') * 1e6;
          u.setSelect({ left: 0, top: 0, width: 0, height: 0 }, false);
          a = Math.max(cfg.dataStartUs, Math.round(a));
          b = Math.min(cfg.dataEndUs, Math.round(b));
          if (b > a) showRange('custom', a, b);
        }],
      },
    };
    return new uPlot(opts, chartData(ci), target);
  }

  function drawAll() {
    plots.forEach(function (u) { u.destroy(); });
    plots = [];
    cfg.charts.forEach(function (c, ci) {
      var section = document.querySelector('.chart[data-chart="' + ci + '"]');
      if (!section.querySelector('.legend-item')) buildLegend(section, ci);
      var u = makePlot(ci);
      // respect legend toggles made earlier
      section.querySelectorAll('.legend-item').forEach(function (item, si) {
        if (item.getAttribute('aria-pressed') === 'false') {
          for (var k = 1; k <= 3; k++) u.setSeries(3 * si + k, { show: false });
        }
      });
      plots.push(u);
      updateReadout(u, ci);
    });
  }

  // ---------------------------------------------------------------- views

  function markButtons() {
    document.querySelectorAll('button[data-range]').forEach(function (b) {
      b.setAttribute('aria-pressed', b.dataset.range === state.range ? 'true' : 'false');
    });
    document.querySelectorAll('button[data-tz]').forEach(function (b) {
      b.setAttribute('aria-pressed', b.dataset.tz === state.tz ? 'true' : 'false');
    });
  }

  function showRange(key, start, end) {
    var token = ++drawToken;
    body.dataset.ready = '0';
    var res = chooseResolution(start, end);
    var files = overlapping(res, start, end);
    state.range = key;
    markButtons();
    setStatus('Loading ' + res.name + ' data…');
    return Promise.all(files.map(loadPart)).then(function (parts) {
      if (token !== drawToken) return; // a newer request won
      view = { res: res, ts: null, cols: null };
      var merged = merge(parts);
      view.ts = merged.ts;
      view.cols = merged.cols;
      state.resolution = res.name;
      state.startUs = start;
      state.endUs = end;
      state.loadedUrls = files.map(function (f) { return f.url; });
      var points = 0;
      for (var i = 0; i < merged.ts.length; i++) {
        if (merged.ts[i] + res.seconds * 1e6 > start && merged.ts[i] < end) points++;
      }
      state.points = points;
      state.error = null;
      drawAll();
      state.bytes = files.reduce(function (acc, f) { return acc + f.bytes; }, 0);
      showViewStatus();
      if (state.firstDrawMs === null) state.firstDrawMs = performance.now();
      body.dataset.ready = '1';
    }).catch(function (err) {
      if (token !== drawToken) return;
      state.error = String(err && err.message || err);
      setStatus('Could not load the data: ' + state.error, true);
      console.error('duckpond:', err);
      body.dataset.ready = 'error';
    });
  }

  function showViewStatus() {
    var n = state.loadedUrls.length;
    setStatus(formatTime(state.startUs) + ' – ' + formatTime(state.endUs) + ' · ' +
      state.resolution + ' buckets, ' + state.points + ' points · ' + n +
      (n === 1 ? ' file, ' : ' files, ') + formatBytes(state.bytes));
  }

  function setRange(key) {
    var b = rangeBounds(key);
    try {
      history.replaceState(null, '', '#' + key);
    } catch (e) { /* some file:// setups refuse; the hash is only a convenience */ }
    return showRange(key, b.start, b.end);
  }

  function setTimezone(tz) {
    state.tz = tz;
    markButtons();
    if (view) {
      drawAll();
      showViewStatus();
      body.dataset.ready = '1';
    }
  }

  function valueAt(ci, si, timeUs) {
    if (!view) return null;
    var chart = cfg.charts[ci];
    if (!chart || !chart.series[si]) return null;
    var ts = view.ts;
    var lo = 0;
    var hi = ts.length - 1;
    var found = -1;
    while (lo <= hi) { // last bucket starting at or before timeUs
      var mid = (lo + hi) >> 1;
      if (ts[mid] <= timeUs) { found = mid; lo = mid + 1; } else { hi = mid - 1; }
    }
    if (found < 0 || timeUs >= ts[found] + view.res.seconds * 1e6) return null;
    var col = chart.series[si].column;
    return {
      time: ts[found],
      avg: view.cols[col + '.avg'][found],
      min: view.cols[col + '.min'][found],
      max: view.cols[col + '.max'][found],
    };
  }

  window.duckpond = {
    state: state,
    config: cfg,
    valueAt: valueAt,
    setRange: setRange,
    setView: function (startUs, endUs) { return showRange('custom', startUs, endUs); },
    get plots() { return plots.slice(); },
  };

  document.querySelectorAll('button[data-range]').forEach(function (b) {
    b.addEventListener('click', function () { setRange(b.dataset.range); });
  });
  document.querySelectorAll('button[data-tz]').forEach(function (b) {
    b.addEventListener('click', function () { setTimezone(b.dataset.tz); });
  });
  document.querySelectorAll('.plot').forEach(function (el) {
    el.addEventListener('dblclick', function () {
      if (state.range === 'custom') setRange(cfg.defaultRange);
    });
  });
  var resizeTimer = null;
  window.addEventListener('resize', function () {
    clearTimeout(resizeTimer);
    resizeTimer = setTimeout(function () {
      plots.forEach(function (u) {
        u.setSize({ width: plotWidth(u.root.parentNode), height: 300 });
      });
    }, 100);
  });

  if (!resolutions.length || cfg.dataEndUs <= cfg.dataStartUs) {
    setStatus('No data yet.');
    body.dataset.ready = '1';
    return;
  }
  var initial = location.hash.replace('#', '');
  if (!cfg.ranges.some(function (r) { return r.key === initial; })) initial = cfg.defaultRange;
  setRange(initial);
})();
