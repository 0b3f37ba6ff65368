// The consoles' only script (county and province alike): live rows on an alerts page. The page
// is complete without it; this adds each alert the server sends at the top of the table and
// says so in the page's status line (role=status, read by screen readers).
//
// The page marks up: #alerts-live (data-events: the server-sent events URL; data-stopped: what
// to say when the stream ends), #alerts-table, #no-alerts, #alerts-status, #alerts-live-note.
// Each `alert` event carries {id, cells: [html, …], announce}, every piece rendered and
// HTML-escaped by the server as the page's own rows are.
'use strict';
(function () {
  var root = document.getElementById('alerts-live');
  if (!root || !window.EventSource) {
    return;
  }
  var table = document.getElementById('alerts-table');
  var empty = document.getElementById('no-alerts');
  var status = document.getElementById('alerts-status');
  var note = document.getElementById('alerts-live-note');
  var source = new EventSource(root.getAttribute('data-events'));

  function stopped() {
    source.close();
    status.textContent = root.getAttribute('data-stopped');
    note.hidden = true;
  }

  source.addEventListener('open', function () {
    note.hidden = false;
  });

  source.addEventListener('alert', function (event) {
    var alert = JSON.parse(event.data);
    if (document.getElementById('alert-' + alert.id)) {
      return; // listed already (raised while the page loaded)
    }
    var row = table.tBodies[0].insertRow(0);
    row.id = 'alert-' + alert.id;
    row.className = 'new';
    alert.cells.forEach(function (html, index) {
      row.insertCell(index).innerHTML = html;
    });
    table.hidden = false;
    empty.hidden = true;
    status.innerHTML = alert.announce;
    var count = document.getElementById('nav-alert-count');
    if (count) {
      count.textContent = String((parseInt(count.textContent, 10) || 0) + 1);
    }
  });

  // This page fell behind the server's alerts: the server's list has them all.
  source.addEventListener('reload', function () {
    source.close();
    window.location.reload();
  });

  // The session ended: nothing more comes until the operator signs in again.
  source.addEventListener('ended', stopped);

  source.addEventListener('error', function () {
    // A closed source will not reconnect by itself (e.g. the stream answered with the sign-in
    // page); a connecting one retries, as after a restart.
    if (source.readyState === EventSource.CLOSED) {
      stopped();
    }
  });
})();
