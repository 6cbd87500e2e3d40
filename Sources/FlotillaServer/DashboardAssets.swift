import Hummingbird

/// The dashboard's stylesheet and script, served from the binary (`/assets/dashboard.css`, `/assets/dashboard.js`):
/// no CDN, no build step. The page reads without the script; the script makes it live (Server-Sent Events from
/// `/api/events`) and adds the controls, which call the API with the token kept in `sessionStorage`.
enum DashboardAssets {
    static func response(_ text: String, contentType: String) -> Response {
        Response(
            status: .ok, headers: [.contentType: contentType, .cacheControl: "no-cache"],
            body: .init(byteBuffer: ByteBuffer(string: text)))
    }

    static let css = """
        body{font:14px/1.4 system-ui,sans-serif;margin:0 1.5em 2em;color:#222;background:#fff}
        header{display:flex;align-items:baseline;gap:1em;flex-wrap:wrap}
        h1{font-size:1.3em;margin:.6em 0}
        h1 a{color:inherit;text-decoration:none}
        h2{font-size:1.1em;margin:1.2em 0 .4em}
        h3{font-size:1em;margin:.6em 0 .3em}
        table{border-collapse:collapse;margin-bottom:1em}
        th,td{border:1px solid #ddd;padding:.3em .6em;text-align:left;vertical-align:top}
        thead th{background:#f5f5f5}
        .muted{color:#777}
        .halt{background:#c62828;color:#fff;padding:.7em 1em;margin:.5em 0;font-weight:600;border-radius:4px}
        .state{font-weight:600}
        .st-running{color:#1565c0}.st-done{color:#2e7d32}.st-halted{color:#c62828}.st-reverted,.st-reverting{color:#6a1b9a}
        .st-awaiting-approval,.st-paused{color:#ef6c00}
        progress{width:10em;vertical-align:middle}
        .facts{display:grid;grid-template-columns:max-content 1fr;gap:.2em 1em;margin:.5em 0}
        .facts dt{color:#777}.facts dd{margin:0}
        .grid td{min-width:8em}
        .grid tr.current th{background:#e3f2fd}
        .cellhead{font-size:.85em;color:#555;margin-bottom:.2em}
        .tenants{display:flex;flex-wrap:wrap;gap:2px;max-width:36em}
        .t{display:inline-block;width:12px;height:12px;border-radius:2px;background:#e0e0e0;cursor:pointer;vertical-align:middle}
        .t:focus{outline:2px solid #222}
        .s-pending{background:#e0e0e0}.s-running{background:#42a5f5}.s-applied{background:#43a047}
        .s-failed{background:#e53935}.s-quarantined{background:#fb8c00}.s-reverted{background:#8e24aa}
        .legend{font-size:.85em;color:#555}
        .detail{position:fixed;right:1em;bottom:1em;max-width:32em;background:#fff;border:1px solid #999;padding:.6em 1em;box-shadow:0 2px 8px rgba(0,0,0,.2)}
        .detail dl{display:grid;grid-template-columns:max-content 1fr;gap:.1em .8em;margin:.3em 0}
        .detail dt{color:#777}.detail dd{margin:0;white-space:pre-wrap;word-break:break-word}
        .controls{border:1px solid #ddd;border-radius:6px;padding:.6em 1em;margin:.5em 0 1em;background:#fffdf7}
        .controls form{display:flex;flex-wrap:wrap;gap:.6em;align-items:center;margin:.3em 0}
        .scopes{display:flex;gap:.8em}
        .halt-button{background:#c62828;color:#fff;font-size:1.4em;font-weight:700;padding:.35em 1.6em;border:0;border-radius:6px;cursor:pointer}
        .halt-button:hover{background:#b71c1c}
        button{padding:.3em .9em;cursor:pointer}
        .answer{min-height:1.4em;font-weight:600}
        .answer.ok{color:#2e7d32}.answer.error{color:#c62828}.answer.busy{color:#555}
        .log td:nth-child(5){white-space:pre-wrap;word-break:break-word}
        .k-halted td,.k-wave-failed td,.k-throttle-halt td{color:#c62828}
        .k-done td{color:#2e7d32}
        .v-passed,.v-pass{color:#2e7d32;font-weight:600}.v-failed,.v-fail{color:#c62828;font-weight:600}
        .v-inconclusive,.v-waiting{color:#ef6c00;font-weight:600}
        .chart{max-width:100%;height:auto;display:block}
        .pre{white-space:pre-wrap;word-break:break-word}
        .logwrap{max-height:32em;overflow:auto;margin-bottom:1em}
        .logwrap table{margin:0}
        .rollouts td:first-child{white-space:nowrap}

        """

    static let javaScript = """
        // Flotilla dashboard: live through Server-Sent Events, controls through the API with a bearer token.
        (function () {
          'use strict';
          var body = document.body;
          var rollout = body.getAttribute('data-rollout');
          var live = document.getElementById('live');
          var liveStatus = document.getElementById('live-status');
          var controls = document.getElementById('controls');
          var detail = document.getElementById('detail');
          var answerBox = document.getElementById('answer');
          var tokenKey = 'flotilla-api-token';

          function $(id) { return document.getElementById(id); }
          function token() { return sessionStorage.getItem(tokenKey) || ''; }
          function say(text, kind) {
            answerBox.textContent = text;
            answerBox.className = 'answer ' + kind;
          }
          function showTokenState() {
            var has = token() !== '';
            $('token-state').textContent = has ? 'token set for this tab' : 'no token yet: actions need it';
            $('token-forget').hidden = !has;
            $('token').hidden = has;
            $('token-save').hidden = has;
          }

          // Refresh the live part of the page from the server, at most about three times a second.
          var pending = null;
          var inFlight = false;
          function refresh() {
            if (pending !== null) { return; }
            pending = setTimeout(function () {
              pending = null;
              if (inFlight) { refresh(); return; }
              inFlight = true;
              fetch(live.getAttribute('data-fragment'), { cache: 'no-store', credentials: 'omit' })
                .then(function (response) { return response.ok ? response.text() : null; })
                .then(function (html) {
                  inFlight = false;
                  if (html !== null) { live.innerHTML = html; afterRefresh(); }
                })
                .catch(function () { inFlight = false; });
            }, 300);
          }
          function afterRefresh() {
            var approve = $('approve');
            if (approve) {
              var facts = live.querySelector('.facts');
              var state = facts ? facts.getAttribute('data-state') : '';
              approve.hidden = !(state === 'awaiting-approval' || state === 'paused');
            }
            document.body.setAttribute('data-refreshed', String(Date.now()));
          }

          // A tenant's details in a box on click (the title shows them on hover).
          if (detail) {
            live.addEventListener('click', function (event) {
              var cell = event.target.closest ? event.target.closest('.t') : null;
              if (!cell || !cell.hasAttribute('data-tenant')) { return; }
              showDetail(cell);
            });
            live.addEventListener('keydown', function (event) {
              if (event.key === 'Enter' && event.target.classList && event.target.classList.contains('t')) {
                showDetail(event.target);
              }
            });
            detail.addEventListener('click', function () { detail.hidden = true; });
          }
          function showDetail(cell) {
            detail.textContent = '';
            var list = document.createElement('dl');
            ['tenant', 'shard', 'phase', 'wave', 'state', 'attempts', 'duration', 'sqlstate', 'error'].forEach(function (name) {
              var value = cell.getAttribute('data-' + name);
              if (value === null) { return; }
              var term = document.createElement('dt');
              term.textContent = name === 'sqlstate' ? 'SQLSTATE' : name;
              var description = document.createElement('dd');
              description.textContent = value;
              list.appendChild(term);
              list.appendChild(description);
            });
            detail.appendChild(list);
            var hint = document.createElement('div');
            hint.className = 'muted';
            hint.textContent = 'click to close';
            detail.appendChild(hint);
            detail.hidden = false;
          }

          // The controls.
          controls.hidden = false;
          showTokenState();
          afterRefresh();
          $('token-form').addEventListener('submit', function (event) {
            event.preventDefault();
            var value = $('token').value.trim();
            if (value === '') { say('enter the API token (FLOTILLA_API_TOKEN of the server)', 'error'); return; }
            sessionStorage.setItem(tokenKey, value);
            $('token').value = '';
            showTokenState();
            say('token kept for this tab', 'ok');
          });
          $('token-forget').addEventListener('click', function () {
            sessionStorage.removeItem(tokenKey);
            showTokenState();
            say('token forgotten', 'ok');
          });
          $('act').addEventListener('submit', function (event) { event.preventDefault(); });

          function scope() {
            var chosen = document.querySelector('input[name="scope"]:checked');
            if (!chosen || chosen.value === 'all') { return { all: true }; }
            return { fleet: chosen.getAttribute('data-fleet') };
          }
          function by(body) {
            var name = $('by').value.trim();
            body.by = name === '' ? 'dashboard' : name;
            return body;
          }
          function post(path, payload, describe) {
            if (token() === '') { say('enter the API token first', 'error'); $('token').focus(); return; }
            say('sending…', 'busy');
            fetch(path, {
              method: 'POST', cache: 'no-store', credentials: 'omit',
              headers: { 'Content-Type': 'application/json', 'Authorization': 'Bearer ' + token() },
              body: JSON.stringify(payload)
            }).then(function (response) {
              return response.text().then(function (text) {
                var answer;
                try { answer = JSON.parse(text); } catch (error) { answer = { error: text }; }
                if (response.status === 401) {
                  say('rejected: wrong token (' + (answer.error || response.status) + ')', 'error');
                } else if (!response.ok) {
                  say('refused (' + response.status + '): ' + (answer.error || text), 'error');
                } else {
                  say(describe(answer), 'ok');
                }
                refresh();
              });
            }).catch(function (error) { say('no answer from the server: ' + error, 'error'); });
          }

          $('halt').addEventListener('click', function () {
            var reason = $('reason').value.trim();
            if (reason === '') { say('a reason is required to halt', 'error'); $('reason').focus(); return; }
            var payload = by(scope());
            payload.reason = reason;
            post('/api/halt', payload, function (answer) { return answer.message; });
          });
          $('resume').addEventListener('click', function () {
            post('/api/resume', by(scope()), function (answer) {
              var still = answer.still_active || [];
              return 'resumed: lifted ' + answer.lifted + ' halt' + (answer.lifted === 1 ? '' : 's') +
                (still.length ? '; still active: ' + still.map(function (h) { return h.reason; }).join('; ') : '');
            });
          });
          if ($('approve')) {
            $('approve').addEventListener('click', function () {
              var id = $('approve').getAttribute('data-rollout');
              post('/api/rollouts/' + encodeURIComponent(id) + '/approve', {}, function (answer) {
                return 'approved ' + answer.phase + ' of rollout ' + answer.rollout;
              });
            });
          }

          // Live: the journal's events as they are written.
          if (!window.EventSource) { liveStatus.textContent = 'this browser has no EventSource: reload to update'; return; }
          var url = '/api/events?after=' + encodeURIComponent(body.getAttribute('data-after') || '0');
          if (rollout) { url += '&rollout=' + encodeURIComponent(rollout); }
          var source = new EventSource(url);
          source.addEventListener('open', function () { liveStatus.textContent = 'live'; refresh(); });
          source.addEventListener('error', function () { liveStatus.textContent = 'reconnecting…'; });
          source.addEventListener('journal', function (event) {
            var data = {};
            try { data = JSON.parse(event.data); } catch (error) { /* shown on refresh */ }
            liveStatus.textContent = 'live · #' + event.lastEventId + ' ' + (data.kind || '') + ': ' + (data.message || '');
            body.setAttribute('data-last-event', event.lastEventId);
            refresh();
          });
          source.addEventListener('progress', refresh);
          source.addEventListener('halts', refresh);
        })();

        """
}
