// Search result snippets from the page's text, not its buttons. Sphinx's searchtools.js takes a hit's
// snippet from the text of `[role="main"]`, which in this theme starts with the article header (the
// language switch, the .ipynb link, the download and launch buttons): every hit read "…한국어 .ipynb Jupyt".
// Here the snippet comes from the article itself (`article.bd-article`), or from the anchored section in it.
// searchtools.js declares `const Search` at the top level of a classic script: a global binding that is not a
// property of `window`, so it is reached by its name.
(function () {
  function install() {
    if (typeof Search === "undefined" || !Search.htmlToText || Search.efftxArticleText) return;
    var original = Search.htmlToText;
    Search.htmlToText = function (htmlString, anchor) {
      var doc = new DOMParser().parseFromString(htmlString, "text/html");
      var article = doc.querySelector("article.bd-article");
      if (!article) return original(htmlString, anchor);
      article.querySelectorAll(".headerlink, script, style").forEach(function (el) { el.remove(); });
      if (anchor) {
        var section = article.querySelector(anchor);
        if (section) return section.textContent;
      }
      return article.textContent;
    };
    Search.efftxArticleText = true;
  }
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", install);
  } else {
    install();
  }
})();
