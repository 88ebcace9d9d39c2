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
      const typesetAndMark = () => typesetPage().then(markScrollers);
      return MathJax.startup.defaultPageReady().then(() => {
        // Material's document$ emits the current page now, and again after every in-place page
        // change if instant navigation is ever turned on. The first typeset is what
        // MathJax.startup.promise waits for.
        const pages = window.document$;
        if (!pages || typeof pages.subscribe !== "function") {
          return typesetAndMark();
        }
        return new Promise((resolve, reject) => {
          let first = true;
          pages.subscribe(() => {
            const done = typesetAndMark();
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


// Blocks that scroll sideways (display formulas wider than the column, wide tables) get a class
// for the side that has more to see; extra.css fades that side out, so the reader knows to
// scroll. Set once the math is typeset (before that the widths are not known), and kept up to
// date on scroll and resize.
const SCROLLERS = ".md-typeset div.arithmatex, .md-typeset .md-typeset__scrollwrap, " +
                  ".md-typeset .jupyter-wrapper mjx-container[display='true'], " +
                  ".md-typeset mjx-container.mjx-inline-too-wide, .md-typeset .bench-plot";

function markScroller(el) {
  const more = el.scrollWidth - el.clientWidth;
  el.classList.toggle("scroll-more-left", more > 1 && el.scrollLeft > 1);
  el.classList.toggle("scroll-more-right", more > 1 && el.scrollLeft < more - 1);
}

// An inline formula cannot break across lines either; one wider than its paragraph (on a
// phone) is set on a line of its own that scrolls, instead of pushing the page sideways.
function markWideInline() {
  for (const el of document.querySelectorAll(".md-typeset mjx-container:not([display='true'])")) {
    el.classList.remove("mjx-inline-too-wide");
    // the line box it sits in: the nearest ancestor that is not itself inline (an inline
    // element has no width of its own to compare with)
    let line = el.parentElement;
    while (line && getComputedStyle(line).display.startsWith("inline")) {
      line = line.parentElement;
    }
    if (line && el.getBoundingClientRect().width > line.clientWidth + 0.5) {
      el.classList.add("mjx-inline-too-wide");
    }
  }
}

function markScrollers() {
  markWideInline();
  for (const el of document.querySelectorAll(SCROLLERS)) {
    markScroller(el);
    if (!el.dataset.scrollHint) {
      el.dataset.scrollHint = "1";
      el.addEventListener("scroll", () => markScroller(el), { passive: true });
    }
  }
}

window.addEventListener("resize", () => {
  if (window.MathJax && MathJax.startup && MathJax.startup.promise) {
    MathJax.startup.promise.then(markScrollers);
  }
});
