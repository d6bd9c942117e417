// Loaded between require.js and the ipywidgets embed manager (see nb_ipywidgets_js in _config.yml):
// the embed manager finds its icon fonts next to its own module URL, so point that module at the copy
// this site serves (_static/vendor/html-manager/dist) instead of a path relative to the page.
(function () {
  if (!window.requirejs) return;
  var root = document.documentElement.getAttribute("data-content_root") || "./";
  window.requirejs.config({
    paths: { "@jupyter-widgets/html-manager/dist": root + "_static/vendor/html-manager/dist" }
  });
})();
