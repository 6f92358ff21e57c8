(function () {
  'use strict';
  var view = document.getElementById('view'), plain = document.getElementById('plain');
  var dark = false, text = false;
  var token = (document.querySelector('input[name="token"]') || {}).value || '';
  function panel() { return document.getElementById('panel'); }
  function version() { return panel().getAttribute('data-version'); }
  function src(name) { return name + '?token=' + encodeURIComponent(token) + '&v=' + version(); }
  function show() {
    if (text) {
      fetch(src('email.txt')).then(function (r) { return r.text(); }).then(function (t) { plain.textContent = t; });
    } else {
      view.src = src(dark ? 'dark.html' : 'email.html');
    }
    view.hidden = text; plain.hidden = !text;
  }
  function swap(html, focusKey, moveFocus) {
    var next = new DOMParser().parseFromString(html, 'text/html');
    ['panel', 'bar', 'checks'].forEach(function (id) {
      var old = document.getElementById(id), fresh = next.getElementById(id);
      if (!old || !fresh) return;
      var open = {};
      old.querySelectorAll('details[open]').forEach(function (d) { open[d.parentNode.id] = true; });
      old.replaceWith(fresh);
      fresh.querySelectorAll('details').forEach(function (d) { if (open[d.parentNode.id]) d.open = true; });
    });
    var target = focusKey && document.querySelector('[data-key="' + CSS.escape(focusKey) + '"]');
    var notice = document.getElementById('notice');
    notice.setAttribute('tabindex', '-1');
    if (target) target.focus(); else if (moveFocus) notice.focus();
    show();
  }
  document.addEventListener('submit', function (event) {
    var form = event.target;
    if (!form.classList || !form.classList.contains('act')) return;
    event.preventDefault();
    var button = event.submitter, data = new FormData(form, button);
    var key = button ? button.getAttribute('data-key') : '';
    document.body.setAttribute('aria-busy', 'true');
    fetch(form.getAttribute('action'), { method: 'POST', body: new URLSearchParams(data), credentials: 'same-origin' })
      .then(function (r) { return r.text(); })
      .then(function (html) { swap(html, key, true); })
      .finally(function () { document.body.removeAttribute('aria-busy'); });
  });
  document.getElementById('notice').setAttribute('tabindex', '-1');
  document.querySelectorAll('button[data-width]').forEach(function (b) {
    b.addEventListener('click', function () {
      document.querySelectorAll('button[data-width]').forEach(function (o) { o.setAttribute('aria-pressed', String(o === b)); });
      view.style.width = b.getAttribute('data-width') + 'px';
    });
  });
  document.getElementById('dark').addEventListener('click', function () {
    dark = !dark; this.setAttribute('aria-pressed', String(dark)); show();
  });
  document.getElementById('text').addEventListener('click', function () {
    text = !text; this.setAttribute('aria-pressed', String(text)); show();
  });
  setInterval(function () {
    if (document.body.hasAttribute('aria-busy')) return;
    fetch('version', { credentials: 'same-origin' }).then(function (r) { return r.text(); }).then(function (v) {
      if (v === version()) return;
      var active = document.activeElement, key = active && active.getAttribute && active.getAttribute('data-key');
      if (active && /^(INPUT|TEXTAREA)$/.test(active.tagName)) return;  // never under the editor's typing
      fetch('./', { credentials: 'same-origin' }).then(function (r) { return r.text(); }).then(function (html) { swap(html, key, false); });
    }).catch(function () {});
  }, 1500);
}());
