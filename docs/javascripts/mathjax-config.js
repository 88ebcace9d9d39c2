// MathJax 3 configuration for a site that renders math with no network access.
//
// Two kinds of page carry math:
//  * Markdown pages, where pymdownx.arithmatex (generic mode) wraps math in
//    <span class="arithmatex">\(...\)</span> and <div class="arithmatex">\[...\]</div>;
//  * executed notebook pages, whose Markdown cells and text/latex outputs hold raw $...$ and
//    $$...$$ that nothing has wrapped.
// So both delimiter pairs are on and the whole page is scanned (code, pre and the hidden copy of
// each notebook code cell excluded), rather than only the .arithmatex elements.
//
// Typesetting happens once, from pageReady, and not through MathJax's automatic first pass:
// clearing the output cache after an automatic pass (as a re-typeset on page change must do)
// drops the glyph stylesheet, which leaves formulas present but blank.
window.MathJax = {
  tex: {
    inlineMath: [["\\(", "\\)"], ["$", "$"]],
    displayMath: [["\\[", "\\]"], ["$$", "$$"]],
    processEscapes: true,
    processEnvironments: true,
    // tex-chtml.js has base, ams (align, cases, pmatrix, \operatorname) and autoload built in;
    // autoload fetches the rest (boldsymbol, mathtools, cancel, ...) on first use from the
    // local copy next to tex-chtml.js, as it does the fonts.
    // Without noundefined an unknown macro is a real error (mjx-merror, which the browser test
    // looks for) rather than its name quietly printed in red.
    packages: { "[-]": ["noundefined"] },
  },
  options: {
    // clipboard-copy-txt: the notebook pages' hidden plain-text copy of every code cell.
    ignoreHtmlClass: "tex2jax_ignore|clipboard-copy-txt",
    processHtmlClass: "tex2jax_process|arithmatex",
    skipHtmlTags: ["script", "noscript", "style", "textarea", "pre", "code",
                   "annotation", "annotation-xml"],
  },
  startup: {
    typeset: false,
    pageReady() {
      const typesetPage = () => {
        MathJax.startup.output.clearCache();
        MathJax.typesetClear();
        MathJax.texReset();
        return MathJax.typesetPromise();
      };
      return MathJax.startup.defaultPageReady().then(() => {
        // Material's document$ emits the current page now, and again after every in-place page
        // change if instant navigation is ever turned on. The first typeset is what
        // MathJax.startup.promise waits for.
        const pages = window.document$;
        if (!pages || typeof pages.subscribe !== "function") {
          return typesetPage();
        }
        return new Promise((resolve, reject) => {
          let first = true;
          pages.subscribe(() => {
            const done = typesetPage();
            if (first) {
              first = false;
              done.then(resolve, reject);
            }
          });
        });
      });
    },
  },
};
