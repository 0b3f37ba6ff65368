// The county console's only script: live rows on the open alerts page (see console/live.rs).
// The page is complete without it; this adds each alert the node raises at the top of the
// table and says so in the page's status line (role=status, read by screen readers).
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

  // Every field arrives rendered and HTML-escaped by the server, as the page's own rows are.
  source.addEventListener('alert', function (event) {
    var alert = JSON.parse(event.data);
    if (document.getElementById('alert-' + alert.id)) {
      return; // listed already (raised while the page loaded)
    }
    var row = table.tBodies[0].insertRow(0);
    row.id = 'alert-' + alert.id;
    row.className = 'new';
    var cells = [alert.kind, alert.peer, null, alert.raised, alert.due, alert.detail];
    cells.forEach(function (html, index) {
      var cell = row.insertCell(index);
      if (index === 2) {
        cell.innerHTML = alert.case_href
          ? '<a href="' + alert.case_href + '">' + alert.case_label + '</a>'
          : '—';
      } else {
        cell.innerHTML = html;
      }
    });
    table.hidden = false;
    empty.hidden = true;
    status.innerHTML = alert.announce;
    var count = document.getElementById('nav-alert-count');
    if (count) {
      count.textContent = String((parseInt(count.textContent, 10) || 0) + 1);
    }
  });

  // This page fell behind the node's alerts: the server's list has them all.
  source.addEventListener('reload', function () {
    source.close();
    window.location.reload();
  });

  // The session ended: nothing more comes until the clerk signs in again.
  source.addEventListener('ended', stopped);

  source.addEventListener('error', function () {
    // A closed source will not reconnect by itself (e.g. the stream answered with the sign-in
    // page); a connecting one retries, as after a node restart.
    if (source.readyState === EventSource.CLOSED) {
      stopped();
    }
  });
})();
