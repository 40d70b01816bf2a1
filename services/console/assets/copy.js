// Accord console: the "Copy token" button (a button with data-copy="<id of a field>" copies that field's value).
// No inline script anywhere (the Content-Security-Policy forbids it); this file is served from /assets.
document.addEventListener("click", function (event) {
  var button = event.target.closest("[data-copy]");
  if (!button) {
    return;
  }
  var field = document.getElementById(button.getAttribute("data-copy"));
  if (!field) {
    return;
  }
  field.select();
  var done = function () {
    button.textContent = "Copied";
  };
  if (navigator.clipboard && window.isSecureContext) {
    navigator.clipboard.writeText(field.value).then(done, function () {
      if (document.execCommand("copy")) {
        done();
      }
    });
  } else if (document.execCommand("copy")) {
    done();
  }
});
