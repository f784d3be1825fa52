// Front-channel logout: let every app's logout iframe load (or give up after 3 s), then
// continue to the app's post-logout page.
document.addEventListener("DOMContentLoaded", function () {
  var next = document.getElementById("continue");
  if (!next) { return; }
  var frames = Array.prototype.slice.call(document.querySelectorAll("iframe.frontchannel-frame"));
  var waiting = frames.length;
  var done = false;
  function go() { if (!done) { done = true; window.location.assign(next.href); } }
  if (waiting === 0) { go(); return; }
  frames.forEach(function (frame) {
    frame.addEventListener("load", function () { waiting -= 1; if (waiting === 0) { go(); } });
    frame.addEventListener("error", function () { waiting -= 1; if (waiting === 0) { go(); } });
  });
  setTimeout(go, 3000);
});
