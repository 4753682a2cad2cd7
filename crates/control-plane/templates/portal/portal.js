// Gantry portals: ask before destructive actions (forms with data-confirm), and copy
// buttons (data-copy="element-id"). Everything works without this script, minus the questions.
document.addEventListener("submit", function (event) {
  var form = event.target;
  var question = form.getAttribute && form.getAttribute("data-confirm");
  if (question && !window.confirm(question)) {
    event.preventDefault();
  }
});
document.addEventListener("click", function (event) {
  var id = event.target.getAttribute && event.target.getAttribute("data-copy");
  if (!id) return;
  var source = document.getElementById(id);
  if (source && navigator.clipboard) {
    navigator.clipboard.writeText(source.textContent.trim());
    event.target.textContent = "Copied";
  }
});
// "Try it": picking an operation fills in its method and path.
document.addEventListener("change", function (event) {
  if (event.target.id !== "operation") return;
  var parts = event.target.value.split(" ");
  var path = document.getElementById("path");
  if (path && parts.length > 1) path.value = parts.slice(1).join(" ").replace("/*", "/");
});
