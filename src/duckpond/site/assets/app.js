/* DuckPond site frontend: range buttons, resolution choice, Parquet blocks, uPlot charts,
 * read-outs, time zones, downloads, share links, tables of values, the station map.
 *
 * A classic script (not a module), inlined in each page with uPlot and hyparquet, so that the
 * site also works opened from disk (file://), where Chromium refuses module scripts and fetch().
 * The page's first view is in the page (#duckpond-inline, Parquet as base64). Other views load
 * data blocks: over http(s) each block is fetched; from disk the same bytes come from a sibling
 * "<block>.js" file that calls duckpondPart(url, base64).
 *
 * Resolution rule (same as duckpond.site.render.choose_resolution): the visible range
 * [start, end] ends at the end of the latest bucket and starts `span` earlier, clipped to the first
 * bucket; use the coarsest resolution with at least cfg.minPoints buckets in the range, else the
 * finest; load the blocks of that resolution whose [start_us, end_us + width) overlaps the range.
 *
 * The URL fragment is the share link of the view: #range=1y&tz=utc, or
 * #from=2016-03-01T00:00:00Z&to=2016-03-08T00:00:00Z&tz=station after a zoom.
 *
 * For tests: window.duckpond = {state, config, valueAt(chart, series, timeUs), setRange(key),
 * setView(startUs, endUs), setTimezone(tz), csv(chart), plots};
 * document.body.dataset.ready is "1" after each draw, "0" while loading, "error" on failure.
 */
(function () {
  'use strict';

  var cfgEl = document.getElementById('duckpond-config');
  if (!cfgEl) return;
  var cfg = JSON.parse(cfgEl.textContent);
  var body = document.body;
  var isFile = location.protocol === 'file:';
  var TIME = 'Timestamp';
  var US = 1e6;
  var STATS = ['avg', 'min', 'max', 'count'];
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
  var LIGHT = ['#1f77b4', '#c62828', '#2e7d32', '#7b3fb0', '#c15c00', '#00838f', '#6d4c41', '#ad1457'];
  var DARK = ['#6cb6f0', '#ff8a80', '#81c784', '#ce93d8', '#ffb74d', '#4dd0e1', '#bcaaa4', '#f48fb1'];
  var darkQuery = window.matchMedia ? window.matchMedia('(prefers-color-scheme: dark)') : null;

  // the config lists each block as [path under base, start_us, end_us, rows, bytes]; expand it
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
      STATS.forEach(function (stat) {
        var name = s.column + '.' + stat;
        if (columns.indexOf(name) < 0) columns.push(name);
      });
    });
  });
  var inlineEl = document.getElementById('duckpond-inline');
  var inline = inlineEl ? {
    res: inlineEl.dataset.res,
    start: Number(inlineEl.dataset.start),
    end: Number(inlineEl.dataset.end),
    url: 'inline:' + inlineEl.dataset.res,
  } : null;

  var state = {
    range: null,        // key of the range button, or "custom" after a zoom
    resolution: null,   // name of the resolution drawn
    startUs: 0,         // visible range
    endUs: 0,
    loadedUrls: [],     // the blocks the current view is drawn from ([] when from the page)
    fetchedUrls: [],    // every block fetched since the page opened (each at most once)
    inline: false,      // the view was drawn from the data in the page
    points: 0,          // buckets of the drawn resolution inside the visible range
    bytes: 0,           // size of the blocks in loadedUrls
    tz: 'utc',          // utc | station | viewer
    error: null,
    firstDrawMs: null,  // performance.now() when the first view was drawn
    map: 'none',        // none | loading | shown | offline | failed
  };
  var view = null;      // {res, ts: Float64Array (us), cols: {name: Array}}
  var plots = [];
  var partCache = new Map();
  var pendingScripts = new Map();
  var drawToken = 0;

  body.dataset.ready = '0';

  // ---------------------------------------------------------------- formatting

  function fmt(v, decimals) {
    if (v === null || v === undefined || !isFinite(v)) return '–';
    var text = v.toFixed(decimals);
    if (/^-0(\.0*)?$/.test(text)) text = text.slice(1);
    return text;
  }

  function pad(n) { return (n < 10 ? '0' : '') + n; }

  // digits after the point of a tick increment (0.05 -> 2, 2.5 -> 1, 20 -> 0)
  function incrDecimals(incr) {
    for (var d = 0; d < 10; d++) {
      var scaled = incr * Math.pow(10, d);
      if (Math.abs(Math.round(scaled) - scaled) < 1e-6 * Math.max(1, scaled)) return d;
    }
    return 10;
  }

  // y axis width: room for the widest tick label, the ticks and the axis title
  var measureCtx = null;
  function yAxisSize(u, values, axisIdx, cycleNum) {
    var narrow = window.innerWidth < 600;
    var least = narrow ? 44 : 56;
    if (!values || !values.length) return least;
    if (cycleNum > 1) return u.axes[axisIdx]._size; // settle: no endless re-layout
    if (measureCtx === null) measureCtx = document.createElement('canvas').getContext('2d');
    measureCtx.font = u.axes[axisIdx].font[0];
    var widest = 0;
    values.forEach(function (v) { widest = Math.max(widest, measureCtx.measureText(String(v)).width / (uPlot.pxRatio || 1)); });
    return Math.max(least, Math.ceil(widest) + 10 + 5 + 20 + 4); // ticks, gap, title, margin
  }

  // y axis ticks: every label with the digits of the step ("2.30", "2.31", not "2.3", "2.31"),
  // without thousands separators (as the read-out and the table of values write numbers)
  function yTicks(u, splits, axisIdx, space, incr) {
    var d = incrDecimals(incr);
    return splits.map(function (v) { return v === null || v === undefined ? '' : fmt(v, d); });
  }

  function viewerZone() {
    try {
      return Intl.DateTimeFormat().resolvedOptions().timeZone || null;
    } catch (e) {
      return null;
    }
  }

  function zoneOf(tz) {
    if (tz === 'station') return cfg.stationZone;
    if (tz === 'viewer') return viewerZone();
    return 'UTC';
  }

  var formatters = {};
  function partsIn(us, zone) {
    var key = zone || '';
    var f = formatters[key];
    if (!f) {
      var opts = {
        year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit',
        hourCycle: 'h23', timeZoneName: 'short',
      };
      if (zone) opts.timeZone = zone;
      f = formatters[key] = new Intl.DateTimeFormat('en-US', opts);
    }
    var out = {};
    f.formatToParts(new Date(us / 1000)).forEach(function (p) { out[p.type] = p.value; });
    if (out.hour === '24') out.hour = '00';
    return out;
  }

  function zoneLabel(p) {
    return p.timeZoneName === 'GMT' ? 'UTC' : p.timeZoneName.replace(/^GMT/, 'UTC');
  }

  // "2016-03-01 10:00 UTC" in the chosen zone
  function formatTime(us, tz) {
    var p = partsIn(us, zoneOf(tz || state.tz));
    return p.year + '-' + p.month + '-' + p.day + ' ' + p.hour + ':' + p.minute + ' ' + zoneLabel(p);
  }

  function isoUtc(us) {
    var d = new Date(us / 1000);
    return d.getUTCFullYear() + '-' + pad(d.getUTCMonth() + 1) + '-' + pad(d.getUTCDate()) + 'T' +
      pad(d.getUTCHours()) + ':' + pad(d.getUTCMinutes()) + ':' + pad(d.getUTCSeconds()) + 'Z';
  }

  function formatWidth(seconds) {
    var units = [['week', 604800], ['day', 86400], ['h', 3600], ['min', 60]];
    for (var i = 0; i < units.length; i++) {
      if (seconds % units[i][1] === 0) {
        var k = seconds / units[i][1];
        if (i < 2) return k + ' ' + units[i][0] + (k === 1 ? '' : 's');
        return k + ' ' + units[i][0];
      }
    }
    return seconds + ' s';
  }

  // a bucket [t, t + width): "2016-03-01 10:00–11:00 UTC", or a UTC day said as such
  function formatBucket(t, seconds) {
    var end = t + seconds * US;
    var zone = zoneOf(state.tz);
    var a = partsIn(t, zone);
    var b = partsIn(end, zone);
    var day = seconds % 86400 === 0;
    if (day && zone === 'UTC') {
      var last = partsIn(end - 1, zone);
      var first = a.year + '-' + a.month + '-' + a.day;
      var to = last.year + '-' + last.month + '-' + last.day;
      return (first === to ? first : first + ' – ' + to) + ' (UTC ' + (seconds === 86400 ? 'day' : 'days') + ')';
    }
    var sameDay = a.year === b.year && a.month === b.month && a.day === b.day;
    var text = a.year + '-' + a.month + '-' + a.day + ' ' + a.hour + ':' + a.minute + '–' +
      (sameDay ? '' : b.year + '-' + b.month + '-' + b.day + ' ') + b.hour + ':' + b.minute + ' ' + zoneLabel(b);
    if (day) text += ' (UTC ' + (seconds === 86400 ? 'day' : 'days') + ')';
    return text;
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

  function cssVar(name, fallback) {
    var v = getComputedStyle(document.documentElement).getPropertyValue(name).trim();
    return v || fallback;
  }

  function palette() {
    return darkQuery && darkQuery.matches ? DARK : LIGHT;
  }

  // ---------------------------------------------------------------- choosing what to load

  function rangeBounds(key) {
    var end = cfg.dataEndUs;
    var start = cfg.dataStartUs;
    var r = cfg.ranges.filter(function (x) { return x.key === key; })[0];
    if (r && r.seconds !== null) start = Math.max(start, end - r.seconds * US);
    return { start: start, end: end };
  }

  function chooseResolution(start, end) {
    var span = end - start;
    for (var i = resolutions.length - 1; i >= 0; i--) {
      if (span >= cfg.minPoints * resolutions[i].seconds * US) return resolutions[i];
    }
    return resolutions[0];
  }

  function overlapping(res, start, end) {
    var width = res.seconds * US;
    return res.files.filter(function (f) { return f.start_us < end && f.end_us + width > start; });
  }

  function fromInline(res, start, end) {
    return inline !== null && inline.res === res.name && start >= inline.start && end <= inline.end;
  }

  // ---------------------------------------------------------------- loading blocks

  function decodeBase64(b64) {
    var bin = atob(b64);
    var bytes = new Uint8Array(bin.length);
    for (var i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
    return bytes.buffer;
  }

  window.duckpondPart = function (url, b64) {
    var p = pendingScripts.get(url);
    if (!p) return;
    pendingScripts.delete(url);
    p.resolve(decodeBase64(b64));
  };

  function loadScript(src) {
    return new Promise(function (resolve, reject) {
      var s = document.createElement('script');
      s.src = src;
      s.onload = function () { s.remove(); resolve(); };
      s.onerror = function () { s.remove(); reject(new Error('cannot load ' + src)); };
      document.head.appendChild(s);
    });
  }

  function loadBytesFromScript(file) {
    return new Promise(function (resolve, reject) {
      pendingScripts.set(file.url, { resolve: resolve });
      loadScript(file.js).then(function () {
        if (pendingScripts.has(file.url)) {
          pendingScripts.delete(file.url);
          reject(new Error('no data in ' + file.js));
        }
      }, function (err) {
        pendingScripts.delete(file.url);
        reject(err);
      });
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
              cols[wanted[j]][i] = v === undefined || v === null ? null : (typeof v === 'bigint' ? Number(v) : v);
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

  function inlinePart() {
    var p = partCache.get(inline.url);
    if (!p) {
      p = Promise.resolve(decodeBase64(inlineEl.textContent.trim())).then(parsePart);
      partCache.set(inline.url, p);
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

  // ---------------------------------------------------------------- the view's numbers

  // index of the bucket holding time t (µs) in the view, or -1 (a gap, or outside the data)
  function bucketAt(t) {
    if (!view) return -1;
    var ts = view.ts;
    var lo = 0;
    var hi = ts.length - 1;
    var found = -1;
    while (lo <= hi) {
      var mid = (lo + hi) >> 1;
      if (ts[mid] <= t) { found = mid; lo = mid + 1; } else { hi = mid - 1; }
    }
    if (found < 0 || t >= ts[found] + view.res.seconds * US) return -1;
    return found;
  }

  // rows of the view whose bucket overlaps the visible range
  function visibleRows() {
    var out = [];
    var w = view.res.seconds * US;
    for (var i = 0; i < view.ts.length; i++) {
      if (view.ts[i] + w > state.startUs && view.ts[i] < state.endUs) out.push(i);
    }
    return out;
  }

  function summarize(column, rows) {
    var mn = null;
    var mx = null;
    var sum = 0;
    var n = 0;
    var plainSum = 0;
    var plainN = 0;
    var latest = null;
    var latestAt = null;
    var avg = view.cols[column + '.avg'];
    var lo = view.cols[column + '.min'];
    var hi = view.cols[column + '.max'];
    var count = view.cols[column + '.count'];
    rows.forEach(function (i) {
      if (lo[i] !== null && (mn === null || lo[i] < mn)) mn = lo[i];
      if (hi[i] !== null && (mx === null || hi[i] > mx)) mx = hi[i];
      if (avg[i] !== null) {
        plainSum += avg[i];
        plainN++;
        if (count[i] !== null && count[i] > 0) { sum += avg[i] * count[i]; n += count[i]; }
        latest = avg[i];
        latestAt = view.ts[i];
      }
    });
    // the mean of the readings: bucket means weighted by their counts (plain mean without counts)
    var mean = n > 0 ? sum / n : (plainN > 0 ? plainSum / plainN : null);
    return { min: mn, mean: mean, max: mx, latest: latest, latestAt: latestAt, readings: n };
  }

  // ---------------------------------------------------------------- drawing

  function chartData(ci) {
    // uPlot aligned data: x (s), then per series max, min, avg; null breaks lines at gaps
    var chart = cfg.charts[ci];
    var step = view.res.seconds * US;
    var x = [];
    var ys = [];
    chart.series.forEach(function () { ys.push([], [], []); });
    var ts = view.ts;
    for (var i = 0; i < ts.length; i++) {
      if (i > 0 && ts[i] - ts[i - 1] > step) {
        x.push((ts[i - 1] + step) / US);
        for (var g = 0; g < ys.length; g++) ys[g].push(null);
      }
      x.push(ts[i] / US);
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
    if (state.tz === 'station') return 'Time (station: ' + cfg.stationZone + ')';
    if (state.tz === 'viewer') {
      var zone = viewerZone();
      return 'Time (yours: ' + (zone || zoneLabel(partsIn(state.endUs, null))) + ')';
    }
    return 'Time (UTC)';
  }

  function readoutIdle(ci) {
    return 'Hover over or tap the chart to read a bucket (' + formatWidth(view.res.seconds) + ' buckets: mean line, min–max band).';
  }

  function updateReadout(u, ci) {
    var el = u.root.closest('.chart').querySelector('.readout');
    var chart = cfg.charts[ci];
    var left = u.cursor.left;
    if (left === null || left === undefined || left < 0) {
      el.textContent = readoutIdle(ci);
      return;
    }
    var t = Math.round(u.posToVal(left, 'x') * US);
    var i = bucketAt(t);
    el.textContent = '';
    if (i < 0) {
      var gap = document.createElement('span');
      gap.className = 'no-data';
      gap.textContent = formatTime(t) + ': no data';
      el.appendChild(gap);
      return;
    }
    var head = document.createElement('strong');
    head.textContent = formatBucket(view.ts[i], view.res.seconds) + ', ' + formatWidth(view.res.seconds) + ' bucket';
    el.appendChild(head);
    chart.series.forEach(function (s) {
      var avg = view.cols[s.column + '.avg'][i];
      var line = document.createElement('span');
      line.style.display = 'block';
      if (avg === null) {
        line.textContent = s.label + ': no data';
        line.className = 'no-data';
      } else {
        var n = view.cols[s.column + '.count'][i];
        var unit = chart.showUnit ? ' ' + chart.unit : '';
        line.textContent = s.label + ': mean ' + fmt(avg, s.decimals) + unit +
          ', min ' + fmt(view.cols[s.column + '.min'][i], s.decimals) +
          ', max ' + fmt(view.cols[s.column + '.max'][i], s.decimals) + unit +
          (n === null ? '' : ' (' + n + (n === 1 ? ' reading)' : ' readings)'));
      }
      el.appendChild(line);
    });
  }

  function updateTable(ci) {
    var section = document.querySelector('.chart[data-chart="' + ci + '"]');
    var chart = cfg.charts[ci];
    var rows = visibleRows();
    var unit = chart.showUnit ? ' ' + chart.unit : '';
    var sums = chart.series.map(function (s) { return summarize(s.column, rows); });
    var counted = sums.every(function (sm) { return sm.readings > 0 || sm.mean === null; });
    section.querySelector('caption').textContent = formatTime(state.startUs) + ' to ' +
      formatTime(state.endUs) + ', from ' + formatWidth(view.res.seconds) + ' buckets; ' +
      (counted ? 'the mean is that of the readings.'
        : 'the mean is that of the bucket means (the data have no reading counts).');
    var tbody = section.querySelector('tbody');
    tbody.textContent = '';
    chart.series.forEach(function (s, si) {
      var sm = sums[si];
      var tr = document.createElement('tr');
      var th = document.createElement('th');
      th.scope = 'row';
      th.textContent = s.label;
      tr.appendChild(th);
      [sm.min, sm.mean, sm.max, sm.latest].forEach(function (v) {
        var td = document.createElement('td');
        td.textContent = v === null ? 'no data' : fmt(v, s.decimals) + unit;
        tr.appendChild(td);
      });
      var at = document.createElement('td');
      at.textContent = sm.latestAt === null ? '' : formatTime(sm.latestAt);
      tr.appendChild(at);
      tbody.appendChild(tr);
    });
  }

  function buildLegend(section, ci) {
    var chart = cfg.charts[ci];
    var colors = palette();
    var legend = section.querySelector('.legend');
    legend.textContent = '';
    chart.series.forEach(function (s, si) {
      var color = colors[si % colors.length];
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
      item.appendChild(document.createTextNode(s.label + (chart.showUnit ? ' (' + chart.unit + ')' : '')));
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
    return Math.max(200, Math.floor(el.clientWidth || el.getBoundingClientRect().width || 600));
  }

  function plotHeight() {
    return window.innerWidth < 600 ? 240 : 300;
  }

  function zoneForUplot() {
    if (state.tz === 'utc') return 'Etc/UTC';
    if (state.tz === 'station') return cfg.stationZone;
    return null;
  }

  function makePlot(ci) {
    var chart = cfg.charts[ci];
    var section = document.querySelector('.chart[data-chart="' + ci + '"]');
    var target = section.querySelector('.plot');
    var colors = palette();
    var fg = cssVar('--fg', '#1b1f24');
    var grid = cssVar('--grid', '#e4e9ee');
    var series = [{}];
    var bands = [];
    chart.series.forEach(function (s, si) {
      var color = colors[si % colors.length];
      var base = 3 * si + 1;
      series.push(
        { label: s.label + ' max', scale: 'y', stroke: 'transparent', width: 0, points: { show: false } },
        { label: s.label + ' min', scale: 'y', stroke: 'transparent', width: 0, points: { show: false } },
        { label: s.label, scale: 'y', stroke: color, width: 1.5, points: { show: false } }
      );
      bands.push({ series: [base, base + 1], fill: hexToRgba(color, 0.22) });
    });
    var zone = zoneForUplot();
    var axis = { stroke: fg, grid: { stroke: grid, width: 1 }, ticks: { stroke: grid, width: 1 } };
    var narrow = window.innerWidth < 600;
    var opts = {
      width: plotWidth(target),
      height: plotHeight(),
      tzDate: function (ts) {
        return zone ? uPlot.tzDate(new Date(ts * 1e3), zone) : new Date(ts * 1e3);
      },
      legend: { show: false },
      cursor: {
        sync: { key: 'duckpond-' + cfg.slug },
        drag: { x: true, y: false, setScale: false },
        points: { size: 7 },
        // the point marks the bucket under the cursor: none in a gap
        dataIdx: function (u, seriesIdx, closest, xValue) {
          var xs = u.data[0];
          var lo = 0;
          var hi = xs.length - 1;
          var found = -1;
          while (lo <= hi) {
            var mid = (lo + hi) >> 1;
            if (xs[mid] <= xValue) { found = mid; lo = mid + 1; } else { hi = mid - 1; }
          }
          if (found < 0 || xValue >= xs[found] + view.res.seconds) return closest;
          return found;
        },
      },
      scales: {
        x: { time: true, range: function () { return [state.startUs / US, state.endUs / US]; } },
        y: { auto: true },
      },
      axes: [
        Object.assign({ label: timeAxisLabel(), labelSize: 20, values: TIME_TICKS, space: narrow ? 60 : 80 }, axis),
        Object.assign({ scale: 'y', label: chart.unit || chart.title, labelSize: 20, size: yAxisSize, values: yTicks }, axis),
      ],
      series: series,
      bands: bands,
      hooks: {
        setCursor: [function (u) { updateReadout(u, ci); }],
        setSelect: [function (u) {
          var sel = u.select;
          if (sel.width < 5) return;
          var a = u.posToVal(sel.left, 'x') * US;
          var b = u.posToVal(sel.left + sel.width, 'x') * US;
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
      buildLegendKeepingToggles(section, ci);
      var u = makePlot(ci);
      section.querySelectorAll('.legend-item').forEach(function (item, si) {
        if (item.getAttribute('aria-pressed') === 'false') {
          for (var k = 1; k <= 3; k++) u.setSeries(3 * si + k, { show: false });
        }
      });
      plots.push(u);
      updateReadout(u, ci);
      updateTable(ci);
    });
  }

  function buildLegendKeepingToggles(section, ci) {
    var off = [];
    section.querySelectorAll('.legend-item').forEach(function (item, si) {
      if (item.getAttribute('aria-pressed') === 'false') off.push(si);
    });
    buildLegend(section, ci);
    section.querySelectorAll('.legend-item').forEach(function (item, si) {
      if (off.indexOf(si) >= 0) item.setAttribute('aria-pressed', 'false');
    });
  }

  // ---------------------------------------------------------------- views and the share link

  function markButtons() {
    document.querySelectorAll('button[data-range]').forEach(function (b) {
      b.setAttribute('aria-pressed', b.dataset.range === state.range ? 'true' : 'false');
    });
    document.querySelectorAll('button[data-tz]').forEach(function (b) {
      b.setAttribute('aria-pressed', b.dataset.tz === state.tz ? 'true' : 'false');
    });
  }

  function fragment() {
    var parts = state.range === 'custom'
      ? ['from=' + isoUtc(state.startUs), 'to=' + isoUtc(state.endUs)]
      : ['range=' + state.range];
    parts.push('tz=' + state.tz);
    return '#' + parts.join('&');
  }

  function updateFragment() {
    try {
      history.replaceState(null, '', fragment());
    } catch (e) { /* some file:// setups refuse; the share button still shows the link */ }
  }

  function parseIso(text) {
    var m = /^(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d)(?::(\d\d))?Z$/.exec(text || '');
    if (!m) return null;
    return Date.UTC(+m[1], +m[2] - 1, +m[3], +m[4], +m[5], +(m[6] || 0)) * 1000;
  }

  // {range} or {start, end} (and tz) from the URL fragment; null if it names no view
  function viewFromFragment() {
    var hash = location.hash.replace(/^#/, '');
    if (!hash) return null;
    if (cfg.ranges.some(function (r) { return r.key === hash; })) return { range: hash };
    var params = {};
    hash.split('&').forEach(function (kv) {
      var i = kv.indexOf('=');
      if (i > 0) params[decodeURIComponent(kv.slice(0, i))] = decodeURIComponent(kv.slice(i + 1));
    });
    var out = {};
    if (params.tz === 'utc' || params.tz === 'viewer' || (params.tz === 'station' && cfg.stationZone)) out.tz = params.tz;
    if (params.range && cfg.ranges.some(function (r) { return r.key === params.range; })) {
      out.range = params.range;
    } else if (params.from && params.to) {
      var a = parseIso(params.from);
      var b = parseIso(params.to);
      if (a !== null && b !== null) {
        a = Math.max(a, cfg.dataStartUs);
        b = Math.min(b, cfg.dataEndUs);
        if (b > a) { out.start = a; out.end = b; }
      }
    }
    return out.range || out.start !== undefined || out.tz ? out : null;
  }

  function showRange(key, start, end) {
    var token = ++drawToken;
    body.dataset.ready = '0';
    var res = chooseResolution(start, end);
    var useInline = fromInline(res, start, end);
    var files = useInline ? [] : overlapping(res, start, end);
    state.range = key;
    markButtons();
    setStatus('Loading ' + formatWidth(res.seconds) + ' buckets…');
    var loads = useInline ? [inlinePart()] : files.map(loadPart);
    return Promise.all(loads).then(function (parts) {
      if (token !== drawToken) return; // a newer request won
      view = { res: res, ts: null, cols: null };
      var merged = merge(parts);
      view.ts = merged.ts;
      view.cols = merged.cols;
      state.resolution = res.name;
      state.startUs = start;
      state.endUs = end;
      state.inline = useInline;
      state.loadedUrls = files.map(function (f) { return f.url; });
      var points = 0;
      for (var i = 0; i < merged.ts.length; i++) {
        if (merged.ts[i] + res.seconds * US > start && merged.ts[i] < end) points++;
      }
      state.points = points;
      state.error = null;
      state.bytes = files.reduce(function (acc, f) { return acc + f.bytes; }, 0);
      drawAll();
      updateFragment();
      showViewStatus();
      if (state.firstDrawMs === null) {
        state.firstDrawMs = performance.now();
        afterFirstDraw();
      }
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
    var source = state.inline ? 'data in the page' : n + (n === 1 ? ' file, ' : ' files, ') + formatBytes(state.bytes);
    setStatus(formatTime(state.startUs) + ' – ' + formatTime(state.endUs) + ' · ' +
      formatWidth(view.res.seconds) + ' buckets, ' + state.points + ' points · ' + source);
  }

  function setRange(key) {
    var b = rangeBounds(key);
    return showRange(key, b.start, b.end);
  }

  function setTimezone(tz) {
    if (tz === 'station' && !cfg.stationZone) tz = 'utc';
    state.tz = tz;
    markButtons();
    if (view) {
      drawAll();
      updateFragment();
      showViewStatus();
      body.dataset.ready = '1';
    }
  }

  function applyFragment() {
    var v = viewFromFragment();
    if (v && v.tz) state.tz = v.tz;
    if (v && v.start !== undefined) return showRange('custom', v.start, v.end);
    return setRange(v && v.range ? v.range : cfg.defaultRange);
  }

  // ---------------------------------------------------------------- downloads

  function visibleTable(ci) {
    var chart = cfg.charts[ci];
    var names = [];
    chart.series.forEach(function (s) {
      STATS.forEach(function (stat) { names.push(s.column + '.' + stat); });
    });
    var rows = visibleRows().filter(function (i) {
      return chart.series.some(function (s) {
        return ['avg', 'min', 'max'].some(function (st) { return view.cols[s.column + '.' + st][i] !== null; });
      });
    });
    return { names: names, rows: rows };
  }

  function csvField(text) {
    return /[",\n\r]/.test(text) ? '"' + text.replace(/"/g, '""') + '"' : text;
  }

  // the visible buckets of a chart's series: Timestamp (UTC) then <column>.avg|min|max|count
  function csv(ci) {
    var t = visibleTable(ci);
    var lines = [[TIME].concat(t.names).map(csvField).join(',')];
    t.rows.forEach(function (i) {
      var row = [isoUtc(view.ts[i])];
      t.names.forEach(function (name) {
        var v = view.cols[name][i];
        row.push(v === null ? '' : String(v));
      });
      lines.push(row.join(','));
    });
    return lines.join('\n') + '\n';
  }

  function loadWriter() {
    if (window.hyparquetWriter) return Promise.resolve();
    return loadScript(cfg.vendor.writer);
  }

  function parquetBytes(ci) {
    var t = visibleTable(ci);
    var columnData = [{ name: TIME, data: t.rows.map(function (i) { return BigInt(view.ts[i]); }) }];
    var schema = [
      { name: 'root', num_children: t.names.length + 1 },
      { name: TIME, type: 'INT64', repetition_type: 'REQUIRED', logical_type: { type: 'TIMESTAMP', isAdjustedToUTC: true, unit: 'MICROS' } },
    ];
    t.names.forEach(function (name) {
      var isCount = /\.count$/.test(name);
      columnData.push({
        name: name,
        data: t.rows.map(function (i) {
          var v = view.cols[name][i];
          return v === null ? null : (isCount ? BigInt(v) : v);
        }),
      });
      schema.push({ name: name, type: isCount ? 'INT64' : 'DOUBLE', repetition_type: 'OPTIONAL' });
    });
    return hyparquetWriter.parquetWriteBuffer({ columnData: columnData, schema: schema, statistics: false });
  }

  function fileStem(ci) {
    var title = cfg.charts[ci].title.replace(/[^A-Za-z0-9]+/g, '-').replace(/^-|-$/g, '') || 'chart';
    return cfg.slug + '-' + title + '-' + state.resolution + '-' +
      isoUtc(state.startUs).replace(/[-:]/g, '') + '-' + isoUtc(state.endUs).replace(/[-:]/g, '');
  }

  function save(blob, name) {
    var a = document.createElement('a');
    a.href = URL.createObjectURL(blob);
    a.download = name;
    document.body.appendChild(a);
    a.click();
    setTimeout(function () { URL.revokeObjectURL(a.href); a.remove(); }, 1000);
  }

  function download(ci, kind, note) {
    if (!view) return Promise.resolve();
    var n = visibleTable(ci).rows.length;
    if (kind === 'csv') {
      save(new Blob([csv(ci)], { type: 'text/csv' }), fileStem(ci) + '.csv');
      note.textContent = n + ' buckets saved as CSV.';
      return Promise.resolve();
    }
    note.textContent = 'Preparing Parquet…';
    return loadWriter().then(function () {
      save(new Blob([parquetBytes(ci)], { type: 'application/vnd.apache.parquet' }), fileStem(ci) + '.parquet');
      note.textContent = n + ' buckets saved as Parquet.';
    }).catch(function (err) {
      note.textContent = 'Could not write Parquet: ' + (err && err.message || err);
    });
  }

  // ---------------------------------------------------------------- the station map

  function afterFirstDraw() {
    if (!cfg.map || !cfg.vendor.leaflet) return;
    var el = document.querySelector('.station .map');
    if (!el) return;
    if (navigator.onLine === false) { state.map = 'offline'; return; }
    state.map = 'loading';
    var css = document.createElement('link');
    css.rel = 'stylesheet';
    css.href = cfg.vendor.leafletCss;
    document.head.appendChild(css);
    loadScript(cfg.vendor.leaflet).then(function () {
      el.hidden = false;
      var map = L.map(el, { scrollWheelZoom: false }).setView([cfg.map.lat, cfg.map.lon], 9);
      var loaded = 0;
      var layer = L.tileLayer(cfg.map.tiles, { attribution: cfg.map.attribution, maxZoom: 18 });
      layer.on('tileload', function () {
        loaded++;
        state.map = 'shown';
      });
      layer.on('tileerror', function () {
        if (loaded === 0) {
          // offline, or tiles refused: the position stays as text
          state.map = 'offline';
          el.hidden = true;
        }
      });
      layer.addTo(map);
      L.circleMarker([cfg.map.lat, cfg.map.lon], { radius: 7, color: palette()[0], weight: 2, fillOpacity: 0.6 })
        .addTo(map).bindTooltip(cfg.stationName || '');
    }, function () {
      state.map = 'failed';
    });
  }

  // ---------------------------------------------------------------- wiring

  function valueAt(ci, si, timeUs) {
    var chart = cfg.charts[ci];
    if (!view || !chart || !chart.series[si]) return null;
    var i = bucketAt(timeUs);
    if (i < 0) return null;
    var col = chart.series[si].column;
    return {
      time: view.ts[i],
      avg: view.cols[col + '.avg'][i],
      min: view.cols[col + '.min'][i],
      max: view.cols[col + '.max'][i],
      count: view.cols[col + '.count'][i],
    };
  }

  window.duckpond = {
    state: state,
    config: cfg,
    valueAt: valueAt,
    setRange: setRange,
    setView: function (startUs, endUs) { return showRange('custom', startUs, endUs); },
    setTimezone: setTimezone,
    csv: csv,
    get plots() { return plots.slice(); },
  };

  document.querySelectorAll('button[data-range]').forEach(function (b) {
    b.addEventListener('click', function () { setRange(b.dataset.range); });
  });
  document.querySelectorAll('button[data-tz]').forEach(function (b) {
    if (b.dataset.tz === 'viewer') {
      var zone = viewerZone();
      if (zone) b.textContent = 'Your time (' + zone + ')';
    }
    b.addEventListener('click', function () { setTimezone(b.dataset.tz); });
  });
  document.querySelectorAll('.plot').forEach(function (el) {
    el.addEventListener('dblclick', function () {
      if (state.range === 'custom') setRange(cfg.defaultRange);
    });
  });
  document.querySelectorAll('.chart').forEach(function (section) {
    var ci = Number(section.dataset.chart);
    var note = section.querySelector('.download-note');
    section.querySelectorAll('button[data-download]').forEach(function (b) {
      b.addEventListener('click', function () { download(ci, b.dataset.download, note); });
    });
  });
  var share = document.querySelector('.share');
  if (share) {
    share.addEventListener('click', function () {
      updateFragment();
      var link = location.href.split('#')[0] + fragment();
      var done = function () { share.textContent = 'Link copied'; };
      var show = function () { window.prompt('Link to this view:', link); };
      if (navigator.clipboard && navigator.clipboard.writeText) {
        navigator.clipboard.writeText(link).then(done, show);
      } else {
        show();
      }
      setTimeout(function () { share.textContent = 'Copy link to this view'; }, 3000);
    });
  }
  window.addEventListener('hashchange', function () {
    if (location.hash !== fragment()) applyFragment();
  });
  var resizeTimer = null;
  window.addEventListener('resize', function () {
    clearTimeout(resizeTimer);
    resizeTimer = setTimeout(function () {
      plots.forEach(function (u) {
        u.setSize({ width: plotWidth(u.root.parentNode), height: plotHeight() });
      });
    }, 100);
  });
  // uPlot keeps each plot's position on the page; anything that moves the plots (the map
  // appearing, a read-out growing, fonts) must tell it, or the cursor would read the wrong place
  if (window.ResizeObserver) {
    new ResizeObserver(function () {
      plots.forEach(function (u) { u.syncRect(); });
    }).observe(document.body);
  }
  if (darkQuery && darkQuery.addEventListener) {
    darkQuery.addEventListener('change', function () { if (view) drawAll(); });
  }

  if (!resolutions.length || cfg.dataEndUs <= cfg.dataStartUs) {
    setStatus('No data yet.');
    document.querySelectorAll('.chart-tools button').forEach(function (b) { b.disabled = true; });
    body.dataset.ready = '1';
    return;
  }
  applyFragment();
})();
