// The interactive path picture on the W page ({{ figure bptt-explorer }}, docs/hooks/figures.py).
//
// The build puts the static picture (one loss term, one parameter) and its terms in the page,
// the radio buttons hidden, and every other choice's paths and terms as JSON. Without this
// script the reader sees the static picture; with it, the buttons appear and a choice lights up
// its paths and replaces the terms, which MathJax then typesets.
(function () {
  "use strict";

  function typeset(node) {
    const mj = window.MathJax;
    if (!mj || !mj.startup || !mj.startup.promise) return;
    // After the page's own first typeset, so the two never run over each other.
    mj.startup.promise
      .then(() => mj.typesetPromise([node]))
      .catch((err) => console.error("figures.js: typesetting failed", err));
  }

  function math(tex) {
    const span = document.createElement("span");
    span.className = "arithmatex";
    span.textContent = "\\(" + tex + "\\)";
    return span;
  }

  function termsNode(entry) {
    const fragment = document.createDocumentFragment();
    const sum = document.createElement("p");
    sum.appendChild(math(entry.sum));
    const list = document.createElement("ol");
    for (const term of entry.terms) {
      const item = document.createElement("li");
      item.tabIndex = 0;
      item.dataset.edges = term.edges.join(" ");
      const k = document.createElement("span");
      k.className = "bptt-k";
      k.textContent = "τ = " + term.tau;
      item.append(k, " ", math(term.tex));
      list.appendChild(item);
    }
    fragment.append(sum, list);
    return fragment;
  }

  function setup(figure) {
    if (figure.dataset.ready) return;
    figure.dataset.ready = "true";
    const data = JSON.parse(figure.querySelector(".bptt-data").textContent);
    const controls = figure.querySelector(".bptt-controls");
    const panel = figure.querySelector(".bptt-terms");
    const svg = figure.querySelector("svg");
    const edges = [...svg.querySelectorAll(".edge")];
    const nodes = [...svg.querySelectorAll(".node")];

    function picked(name) {
      return figure.querySelector('input[name="' + name + '"]:checked').value;
    }

    function update() {
      const key = picked("bptt-loss") + ":" + picked("bptt-param");
      const entry = data[key];
      const on = new Set(entry.terms.flatMap((term) => term.edges));
      const uses = new Set(entry.terms.map((term) => term.use));
      const passed = new Set([...on].flatMap((edge) => edge.split("-")));
      for (const edge of edges) {
        edge.classList.toggle("on", on.has(edge.dataset.edge));
        edge.classList.toggle("use", uses.has(edge.dataset.edge));
        edge.classList.remove("term");
      }
      for (const node of nodes) node.classList.toggle("on", passed.has(node.dataset.node));
      figure.classList.remove("one-term");
      if (window.MathJax && MathJax.typesetClear) MathJax.typesetClear([panel]);
      panel.replaceChildren(termsNode(entry));
      figure.dataset.selected = key;
      typeset(panel);
    }

    // Pointing at (or tabbing to) one term shows its path alone.
    function focusTerm(event) {
      const item = event.target.closest && event.target.closest("li[data-edges]");
      if (!item) return;
      const mine = new Set(item.dataset.edges.split(" "));
      for (const edge of edges) edge.classList.toggle("term", mine.has(edge.dataset.edge));
      figure.classList.add("one-term");
    }

    function blurTerm() {
      figure.classList.remove("one-term");
      for (const edge of edges) edge.classList.remove("term");
    }

    controls.addEventListener("change", update);
    panel.addEventListener("mouseover", focusTerm);
    panel.addEventListener("focusin", focusTerm);
    panel.addEventListener("mouseleave", blurTerm);
    panel.addEventListener("focusout", blurTerm);
    controls.hidden = false;
    figure.classList.add("is-interactive");
    figure.dataset.selected = picked("bptt-loss") + ":" + picked("bptt-param");
  }

  function setupAll() {
    document.querySelectorAll('figure[data-figure="bptt-explorer"]').forEach(setup);
  }

  // Material's document$ emits each page (also after an in-place page change, if instant
  // navigation is ever turned on); without it, the page is already parsed when this runs.
  if (window.document$ && typeof window.document$.subscribe === "function") {
    window.document$.subscribe(setupAll);
  } else {
    setupAll();
  }
})();
