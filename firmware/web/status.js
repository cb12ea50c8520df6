// The status page refreshes its live part every 5 s and its chart every 5 minutes (a new point),
// without a reload
// (the server renders both: /?part=live, /?part=chart). Without scripts the page reloads itself.
(function () {
  var stale = document.getElementById('stale');
  function get(part, ms) {
    function go() {
      if (document.hidden) return;
      fetch('/?part=' + part, {cache: 'no-store'}).then(function (r) {
        if (!r.ok) throw new Error(r.status);
        return r.text();
      }).then(function (t) {
        document.getElementById(part).innerHTML = t;
        stale.hidden = true;
      }).catch(function () { stale.hidden = false; });
    }
    setInterval(go, ms);
    document.addEventListener('visibilitychange', go);
  }
  get('live', 5000);
  get('chart', 300000);
})();
