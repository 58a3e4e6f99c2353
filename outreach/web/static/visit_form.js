// The visit form: one labour-capacity row per household member, and the household's details
// disabled when nobody was reached. Without this script the server renders the rows.
(function () {
  "use strict";
  var form = document.getElementById("visit-form");
  if (!form) { return; }
  var size = document.getElementById("household_size");
  var rows = document.getElementById("labor-rows");
  var details = document.getElementById("found-details");
  var buttons = document.getElementById("labor-buttons");
  var MAX = parseInt(size.getAttribute("max"), 10) || 30;

  function label(n) {
    return (rows.getAttribute("data-member-label") || "{n}").replace("{n}", String(n));
  }

  function setRows(n) {
    n = Math.max(1, Math.min(MAX, n));
    var items = rows.querySelectorAll("li.labor-row");
    var template = items[0];
    for (var i = items.length; i < n; i++) {
      var row = template.cloneNode(true);
      var select = row.querySelector("select");
      var lab = row.querySelector("label");
      select.id = "labor-" + (i + 1);
      select.selectedIndex = 0;
      lab.htmlFor = select.id;
      lab.textContent = label(i + 1);
      rows.appendChild(row);
    }
    for (var j = items.length; j > n; j--) {
      rows.removeChild(rows.lastElementChild);
    }
  }

  size.addEventListener("input", function () {
    var n = parseInt(size.value, 10);
    if (n >= 1) { setRows(n); }
  });
  document.getElementById("add-member").addEventListener("click", function () {
    var n = rows.querySelectorAll("li.labor-row").length + 1;
    if (n > MAX) { return; }
    setRows(n);
    size.value = String(n);
    rows.lastElementChild.querySelector("select").focus();
  });
  document.getElementById("remove-member").addEventListener("click", function () {
    var n = rows.querySelectorAll("li.labor-row").length - 1;
    if (n < 1) { return; }
    setRows(n);
    size.value = String(n);
  });
  buttons.hidden = false;

  function syncFound() {
    var checked = form.querySelector("input[name=found]:checked");
    details.disabled = checked !== null && checked.value === "no";
  }
  form.querySelectorAll("input[name=found]").forEach(function (radio) {
    radio.addEventListener("change", syncFound);
  });
  syncFound();

  var errors = document.getElementById("form-errors");
  if (errors) { errors.focus(); }
})();
