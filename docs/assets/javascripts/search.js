/* The header's search box (overrides/partials/search.html) with Pagefind.
 *
 * Pagefind's own interface (pagefind-ui.js) has its own look and strings; this small
 * script renders Pagefind's results in Material's markup (md-search-result__*) with
 * the site's strings instead. Pagefind's bundle (/pagefind/, hooks/pagefind.py) is
 * loaded when the reader first opens search, and loads only the index of the
 * page's <html lang>: results are in the page's language only.
 *
 * Keyboard: "/", "s" or "f" opens search; typing searches; Arrow Down moves from the
 * box to the results and Arrow Up/Down through them (Tab as well); Enter in the box
 * opens the first result; Escape closes search and
 * leaves the focus in the box. The status line is a live region
 * that announces how many pages were found.
 */
;(function () {
  "use strict"
  var box = document.querySelector("[data-kb-search]")
  var toggle = document.getElementById("__search")
  var script = document.currentScript
  if (!box || !toggle || !script) return
  var input = box.querySelector(".md-search__input")
  var form = box.querySelector(".md-search__form")
  var status = box.querySelector(".md-search-result__meta")
  var list = box.querySelector(".md-search-result__list")
  var scroll = box.querySelector(".md-search__scrollwrap")
  var strings = JSON.parse(box.getAttribute("data-kb-strings"))
  // the site's root: this script is <root>assets/javascripts/search.js
  var root = new URL("../../", script.src)
  var LIMIT = 10
  var pagefind = null
  var generation = 0
  var timer = 0
  var quiet = false

  function load() {
    if (!pagefind) {
      pagefind = import(new URL("pagefind/pagefind.js", root).href).then(function (module) {
        return module.options({ baseUrl: root.pathname, excerptLength: 24 }).then(function () {
          return module
        })
      })
      pagefind.catch(function () {
        pagefind = null
      })
    }
    return pagefind
  }

  function open() {
    if (!toggle.checked) {
      toggle.checked = true
      toggle.dispatchEvent(new Event("change"))
    }
    load()
  }

  function close() {
    if (toggle.checked) {
      toggle.checked = false
      toggle.dispatchEvent(new Event("change"))
    }
  }

  function say(text) {
    status.textContent = text
    // focusable itself only while it holds no link to focus (axe: scrollable-region-focusable)
    if (list.children.length) scroll.removeAttribute("tabindex")
    else scroll.setAttribute("tabindex", "0")
  }

  function count(n) {
    if (n === 0) return strings.none
    if (n === 1) return strings.one
    return strings.other.replace("{count}", String(n))
  }

  // Pagefind's excerpt is the page's text, HTML-escaped, with <mark> around matches:
  // rebuilt here from text and <mark> elements only, whatever it holds.
  function excerpt(html) {
    var parsed = new DOMParser().parseFromString("<p>" + html + "</p>", "text/html").body
    var teaser = document.createElement("p")
    teaser.className = "md-search-result__teaser"
    parsed.firstChild.childNodes.forEach(function (node) {
      if (node.nodeName === "MARK") {
        var mark = document.createElement("mark")
        mark.textContent = node.textContent
        teaser.appendChild(mark)
      } else {
        teaser.appendChild(document.createTextNode(node.textContent))
      }
    })
    return teaser
  }

  function item(data) {
    var li = document.createElement("li")
    li.className = "md-search-result__item"
    var link = document.createElement("a")
    link.className = "md-search-result__link"
    link.href = data.url
    var article = document.createElement("article")
    article.className = "md-search-result__article md-typeset"
    var icon = document.createElement("div")
    icon.className = "md-search-result__icon md-icon"
    var title = document.createElement("h1")
    title.textContent = (data.meta && data.meta.title) || data.url
    article.append(icon, title, excerpt(data.excerpt || ""))
    link.appendChild(article)
    li.appendChild(link)
    return li
  }

  function search() {
    var query = input.value.trim()
    var current = ++generation
    if (!query) {
      list.replaceChildren()
      say(strings.start)
      return
    }
    load()
      .then(function (module) {
        return module.search(query)
      })
      .then(function (found) {
        if (current !== generation) return null
        return Promise.all(found.results.slice(0, LIMIT).map(function (result) { return result.data() })).then(function (pages) {
          if (current !== generation) return
          list.replaceChildren.apply(list, pages.map(item))
          say(count(found.results.length))
        })
      })
      .catch(function () {
        if (current !== generation) return
        list.replaceChildren()
        say(strings.error)
      })
  }

  function links() {
    return Array.prototype.slice.call(list.querySelectorAll(".md-search-result__link"))
  }

  input.addEventListener("focus", function () {
    if (!quiet) open()
  })
  input.addEventListener("input", function () {
    open()
    clearTimeout(timer)
    timer = setTimeout(search, 120)
  })
  toggle.addEventListener("change", function () {
    if (toggle.checked && document.activeElement !== input) input.focus()
  })
  form.addEventListener("submit", function (event) {
    event.preventDefault()
    var first = links()[0]
    if (first) location.href = first.href
  })
  form.addEventListener("reset", function () {
    setTimeout(function () {
      search()
      input.focus()
    })
  })
  box.addEventListener("keydown", function (event) {
    if (event.key === "Escape") {
      event.preventDefault()
      close()
      quiet = true
      input.focus()
      quiet = false
      return
    }
    if (event.key !== "ArrowDown" && event.key !== "ArrowUp") return
    var all = links()
    if (!all.length) return
    var at = all.indexOf(document.activeElement)
    if (event.target === input) {
      if (event.key !== "ArrowDown") return
      event.preventDefault()
      all[0].focus()
    } else if (at >= 0) {
      event.preventDefault()
      if (event.key === "ArrowDown") all[Math.min(at + 1, all.length - 1)].focus()
      else if (at === 0) input.focus()
      else all[at - 1].focus()
    }
  })
  document.addEventListener("keydown", function (event) {
    if (event.ctrlKey || event.metaKey || event.altKey || event.defaultPrevented) return
    var target = event.target
    if (target.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(target.tagName)) return
    if (event.key === "/" || event.key === "s" || event.key === "f") {
      event.preventDefault()
      open()
      input.focus()
    }
  })
})()
