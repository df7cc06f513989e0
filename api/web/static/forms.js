// Registration forms: bring the preview or the first refusal into view, and send the
// confirmation once (a double click registers once anyway: the form's Idempotency-Key makes the
// server answer a repeat with the first registration).
(function () {
  "use strict";
  var form = document.getElementById("change-form");
  if (!form) { return; }
  var shown = document.getElementById("conflict") || form.querySelector(".field-error") ||
    document.querySelector(".register-form > .field-error") || document.getElementById("preview");
  if (shown) {
    shown.scrollIntoView({ block: "center" });
    var field = shown.closest("fieldset, .field");
    var input = field && field.querySelector("input:not([type=hidden]), select");
    if (input && shown.classList.contains("field-error")) { input.focus({ preventScroll: true }); }
  }
  var sent = false;
  form.addEventListener("submit", function (ev) {
    var submitter = ev.submitter;
    if (!submitter || submitter.value !== "confirm") { return; }
    if (sent) { ev.preventDefault(); return; }
    sent = true;
    setTimeout(function () { submitter.disabled = true; }, 0);
  });
}());
