/* Contract self-assessment: progress, live score, saving in localStorage, printing,
   sending with fetch, and a beacon when the scan is started and completed. The form works without this script; the script reads the
   weights and bands the build embedded (one source: the definition file) and scores
   with the same whole-number arithmetic as kennisbank/assessment/scoring.py. */
(() => {
  "use strict";

  const percentage = (earned, possible) => Math.floor((200 * earned + possible) / (2 * possible));
  const fill = (text, values) => text.replace(/\{(\w+)\}/g, (m, key) => (key in values ? values[key] : m));

  /* answers: {questionId: value} and {contextId: option}, as the server checks them:
     a question that does not apply in the context may hold anything or nothing; "don't
     know" counts as data.unknown.countsAs; "not applicable" on a question that may not
     apply leaves it out. The rules are scoring.py's, step by step. */
  function score(data, answers) {
    const top = Math.max(...data.values);
    const unknown = data.unknown ? data.unknown.value : null;
    const countsAs = data.unknown ? data.unknown.countsAs : 0;
    const context = data.context ? answers[data.context.id] : undefined;
    const inContext = (q) => !q.appliesTo || context === undefined || q.appliesTo.includes(context);
    const applies = (q) => inContext(q) && !(q.mayNotApply && answers[q.id] === data.notApplicable);
    const applying = data.questions.filter(applies);
    const value = (q) => (answers[q.id] === unknown ? countsAs : answers[q.id]);
    const part = (questions) => {
      const possible = questions.reduce((sum, q) => sum + q.weight * top, 0);
      return possible ? percentage(questions.reduce((sum, q) => sum + q.weight * value(q), 0), possible) : null;
    };
    const total = part(applying);
    const themes = {};
    for (const theme of data.themes) themes[theme] = part(applying.filter((q) => q.theme === theme));
    const bandIds = data.bands.map((band) => band.id);
    const rank = data.bands.findIndex((band) => band.min <= total && total <= band.max);
    const applyingById = (id) => applying.find((item) => item.id === id);
    const tripped = (gate) => {
      if (gate.question !== undefined) {
        const q = applyingById(gate.question);
        return q !== undefined && value(q) < gate.below;
      }
      if (gate.questions !== undefined) {
        const named = gate.questions.map(applyingById).filter((q) => q !== undefined);
        return named.length > 0 && named.every((q) => value(q) < gate.below);
      }
      return themes[gate.theme] !== null && themes[gate.theme] < gate.below;
    };
    /* a condition holds on a scale value only: "don't know" and "not applicable" contradict nothing */
    const holds = (condition) => {
      const answer = answers[condition.question];
      const q = applyingById(condition.question);
      if (q === undefined || typeof answer !== "number") return false;
      return condition.below !== null ? answer < condition.below : answer >= condition.atLeast;
    };
    const unknownIds = applying.filter((q) => answers[q.id] === unknown).map((q) => q.id);
    const verdict = data.verdict || {};
    const common = {
      rawScore: total,
      scoreBand: bandIds[rank],
      themes,
      weak: applying.filter((q) => answers[q.id] === unknown || value(q) < top).map((q) => q.id),
      unknown: unknownIds,
      notApplicable: data.questions.filter((q) => !applies(q)).map((q) => q.id),
      conflicts: (data.conflicts || []).filter((conflict) => conflict.when.every(holds)).map((conflict) => conflict.id),
      applying: applying.length,
    };
    if (verdict.unknownLimit !== null && verdict.unknownLimit !== undefined && 100 * unknownIds.length > verdict.unknownLimit * applying.length) {
      return { ...common, score: total, band: null, judged: false, gates: [] };
    }
    const lowering = (data.gates || []).filter((gate) => tripped(gate) && bandIds.indexOf(gate.maxBand) < rank);
    const cap = Math.min(rank, ...lowering.map((gate) => bandIds.indexOf(gate.maxBand)));
    const binding = lowering.filter((gate) => bandIds.indexOf(gate.maxBand) === cap).map((gate) => gate.id);
    const shown = verdict.capScore && binding.length ? Math.min(total, data.bands[cap].max) : total;
    return { ...common, score: shown, band: bandIds[cap], judged: true, gates: binding };
  }

  function mount(form) {
    const data = JSON.parse(form.querySelector("[data-kb-data]").textContent);
    const find = (selector) => form.querySelector(selector);
    const findAll = (selector) => [...form.querySelectorAll(selector)];
    const status = find("[data-kb-status]");
    const sent = find("[data-kb-sent]");
    const peersBox = find("[data-kb-peers]");
    const result = find("[data-kb-result]");
    const progress = find("[data-kb-progress]");
    const printButton = find("[data-kb-print]");
    const submitButton = find("button[type=submit]");
    const unknown = data.unknown ? data.unknown.value : null;
    const contextId = data.context ? data.context.id : null;
    const fieldsets = {};
    for (const q of data.questions) fieldsets[q.id] = find(`[data-kb-question="${q.id}"]`);
    /* the wording the build wrote is the default; a context may have its own */
    for (const element of findAll("[data-kb-text]")) element.dataset.kbDefault = element.textContent;
    /* with the script, questions that do not apply are hidden, so the choices and notes
       that stand in for that without it are not needed */
    for (const element of findAll("[data-kb-na], [data-kb-applies-note], [data-kb-variant]")) element.hidden = true;

    const inputValue = (input) => (/^\d+$/.test(input.value) ? Number(input.value) : input.value);
    const currentContext = () => {
      if (!contextId) return undefined;
      const checked = form.querySelector(`input[name="${data.prefix}${contextId}"]:checked`);
      return checked ? checked.value : undefined;
    };
    /* before the context is chosen, only the questions for everyone are shown */
    const applies = (q, context) => !q.appliesTo || (context !== undefined && q.appliesTo.includes(context));
    const applying = (context) => data.questions.filter((q) => applies(q, context));
    const allowed = (q, value) => data.values.includes(value) || (q.unknown && value === unknown) || (q.mayNotApply && value === data.notApplicable);

    const read = () => {
      const answers = {};
      const context = currentContext();
      if (context !== undefined) answers[contextId] = context;
      for (const q of applying(context)) {
        const checked = form.querySelector(`input[name="${data.prefix}${q.id}"]:checked`);
        if (checked && allowed(q, inputValue(checked))) answers[q.id] = inputValue(checked);
      }
      return answers;
    };

    /* every answer given, also to questions hidden by the context: switching back keeps them */
    const readAll = () => {
      const answers = read();
      for (const q of data.questions) {
        const checked = form.querySelector(`input[name="${data.prefix}${q.id}"]:checked`);
        if (checked && allowed(q, inputValue(checked))) answers[q.id] = inputValue(checked);
      }
      return answers;
    };

    const arrange = (context) => {
      let number = 0;
      for (const q of data.questions) {
        const fieldset = fieldsets[q.id];
        const shown = applies(q, context);
        fieldset.hidden = !shown;
        fieldset.disabled = !shown; /* not required, not sent */
        if (shown) {
          number += 1;
          fieldset.querySelector("[data-kb-number]").textContent = `${number}.`;
        }
        const text = (context !== undefined && q.texts[context]) || null;
        for (const element of findAll(`[data-kb-question="${q.id}"] [data-kb-text], [data-kb-advice="${q.id}"] [data-kb-text], [data-kb-answer-row="${q.id}"] [data-kb-text]`)) {
          element.textContent = text || element.dataset.kbDefault;
        }
      }
      for (const section of findAll("[data-kb-theme-section]")) {
        section.hidden = !applying(context).some((q) => q.theme === section.dataset.kbThemeSection);
      }
    };

    /* Stored answers that no longer fit the definition (a question removed or renamed,
       a value off the scale) are ignored. */
    const load = () => {
      let stored = {};
      try {
        stored = JSON.parse(localStorage.getItem(data.storageKey)) || {};
      } catch (error) {
        stored = {};
      }
      const answers = {};
      if (contextId && data.context.options.includes(stored[contextId])) answers[contextId] = stored[contextId];
      for (const q of data.questions) {
        if (allowed(q, stored[q.id])) answers[q.id] = stored[q.id];
      }
      return answers;
    };

    const save = (answers) => {
      try {
        localStorage.setItem(data.storageKey, JSON.stringify(answers));
      } catch (error) {
        /* storage full or disabled: the form still works */
      }
    };

    const bandTitle = (id) => find(`[data-kb-band="${id}"] h4`).textContent;

    const show = (answers, outcome) => {
      const toggle = (selector, shown) => {
        const element = find(selector);
        if (element) element.hidden = !shown;
        return element;
      };
      find("[data-kb-score]").textContent = fill(data.strings.score_value, { score: outcome.score });
      toggle("[data-kb-score-box]", outcome.judged);
      toggle("[data-kb-theme-scores]", outcome.judged);
      const insufficient = toggle("[data-kb-insufficient]", !outcome.judged);
      if (insufficient && !outcome.judged) {
        find("[data-kb-insufficient-count]").textContent = fill(data.strings.insufficient_count, { count: outcome.unknown.length, total: outcome.applying });
      }
      for (const band of findAll("[data-kb-band]")) band.hidden = band.dataset.kbBand !== outcome.band;
      for (const advice of findAll("[data-kb-band-advice]")) advice.hidden = outcome.gates.length > 0;
      const gates = find("[data-kb-gates]");
      if (gates) {
        gates.hidden = outcome.gates.length === 0;
        find("[data-kb-gate-intro]").textContent = outcome.gates.length ? fill(data.strings.gate_intro, { score: outcome.rawScore, band: bandTitle(outcome.scoreBand) }) : "";
        for (const item of findAll("[data-kb-gate]")) item.hidden = !outcome.gates.includes(item.dataset.kbGate);
        const capped = find("[data-kb-capped]");
        if (capped) {
          capped.hidden = !(outcome.gates.length && outcome.score !== outcome.rawScore);
          capped.textContent = capped.hidden ? "" : fill(data.strings.score_capped, { score: outcome.score, band: bandTitle(outcome.band) });
        }
      }
      const conflicts = find("[data-kb-conflicts]");
      if (conflicts) {
        conflicts.hidden = outcome.conflicts.length === 0;
        for (const item of findAll("[data-kb-conflict]")) item.hidden = !outcome.conflicts.includes(item.dataset.kbConflict);
      }
      const count = find("[data-kb-unknown-count]");
      if (count) {
        count.hidden = outcome.unknown.length === 0 || !outcome.judged;
        count.textContent = fill(data.strings.unknown_count, { count: outcome.unknown.length });
      }
      for (const item of findAll("[data-kb-theme]")) {
        const theme = item.dataset.kbTheme;
        const title = find(`#${form.id}-theme-${theme}`).textContent;
        const value = outcome.themes[theme];
        item.querySelector("[data-kb-theme-text]").textContent =
          value === null ? fill(data.strings.theme_not_applicable, { theme: title }) : fill(data.strings.theme_score, { theme: title, score: value });
        item.querySelector(".kb-bar-fill").setAttribute("width", value || 0);
      }
      for (const item of findAll("[data-kb-advice]")) {
        const id = item.dataset.kbAdvice;
        item.hidden = !outcome.weak.includes(id);
        item.querySelector("[data-kb-answer-label]").textContent = data.labels[answers[id]] || "";
        const how = item.querySelector("[data-kb-unknown-advice]");
        if (how) how.hidden = answers[id] !== unknown;
      }
      for (const cell of findAll("[data-kb-answer]")) {
        const id = cell.dataset.kbAnswer;
        cell.textContent = outcome.notApplicable.includes(id) ? data.labels[data.notApplicable] : data.labels[answers[id]];
      }
      const contextCell = find("[data-kb-context-answer]");
      if (contextCell) {
        const checked = form.querySelector(`input[name="${data.prefix}${contextId}"]:checked`);
        contextCell.textContent = checked ? checked.closest("label").textContent.trim() : "";
      }
    };

    const update = (announce) => {
      const context = currentContext();
      arrange(context);
      const answers = read();
      const total = applying(context).length;
      const answered = applying(context).filter((q) => q.id in answers).length;
      progress.querySelector("progress").max = total;
      progress.querySelector("progress").value = answered;
      find("[data-kb-progress-text]").textContent = fill(data.strings.progress, { answered, total });
      const complete = answered === total && (!contextId || context !== undefined);
      result.hidden = !complete;
      printButton.hidden = !complete;
      if (!complete) return answers;
      const outcome = score(data, answers);
      show(answers, outcome);
      if (announce) {
        status.textContent = outcome.judged
          ? `${fill(data.strings.score_value, { score: outcome.score })}: ${bandTitle(outcome.band)}`
          : find("[data-kb-insufficient] h4").textContent;
      }
      return answers;
    };

    /* where the reader stands among earlier submissions (the reply's `peers`): the same
       text as the page the server sends without the script (10-point ranges, no theme figures) */
    const showPeers = (peers) => {
      if (!peersBox) return;
      peersBox.replaceChildren();
      peersBox.hidden = !peers;
      if (!peers) return;
      const element = (tag, text, className) => {
        const node = document.createElement(tag);
        if (text !== undefined) node.textContent = text;
        if (className) node.className = className;
        return node;
      };
      peersBox.dataset.kbPeersShown = String(peers.shown);
      peersBox.append(element(`h${peersBox.dataset.kbLevel || 4}`, peers.labels.heading), element("p", peers.text, "kb-peers-summary"));
    };

    const send = async (event) => {
      event.preventDefault();
      const fields = new FormData(form);
      const text = (name) => (fields.get(name) || "").toString();
      const body = {
        assessment: data.id,
        lang: data.lang,
        version: data.version,
        definition: data.definition,
        answers: read(),
        contact: { name: text("name"), email: text("email"), organisation: text("organisation"), message: text("message") },
        discuss: fields.has("discuss"),
        consent: fields.has("consent"),
        website: text("website"),
      };
      submitButton.disabled = true;
      sent.textContent = data.strings.sending;
      try {
        const response = await fetch(form.action, {
          method: "POST",
          headers: { "Content-Type": "application/json", Accept: "application/json" },
          body: JSON.stringify(body),
        });
        const reply = await response.json().catch(() => ({}));
        if (response.ok) {
          sent.textContent = fill(data.strings.sent, { id: reply.id }) + (reply.follow_up ? ` ${data.strings.follow_up}` : "");
          showPeers(reply.peers);
        } else if (response.status === 409) {
          /* the site was rebuilt since this page was loaded: the answers are saved on
             every change, so a reload brings them back into the new form */
          save(readAll());
          sent.textContent = reply.error || data.strings.send_failed;
          const again = document.createElement("button");
          again.type = "button";
          again.className = "md-button kb-reload";
          again.textContent = data.strings.reload;
          again.addEventListener("click", () => window.location.reload());
          sent.append(" ", again);
          again.focus();
        } else {
          const messages = Object.values(reply.errors || {});
          if (reply.error) messages.push(reply.error);
          sent.textContent = messages.length ? messages.join(" ") : data.strings.send_failed;
        }
      } catch (error) {
        sent.textContent = data.strings.send_failed;
      } finally {
        submitButton.disabled = false;
      }
    };

    const restored = load();
    for (const [id, value] of Object.entries(restored)) {
      const input = form.querySelector(`input[name="${data.prefix}${id}"][value="${value}"]`);
      if (input) input.checked = true;
    }
    progress.hidden = false;
    update(false);
    const restoredCount = Object.keys(restored).filter((id) => id !== contextId).length;
    if (restoredCount) status.textContent = fill(data.strings.restored, { answered: restoredCount });

    /* the scan's funnel (kennisbank/server/intake/funnel.py): "started" at this page's first
       answer, "completed" when every question is answered, each once per page; only the
       assessment, its version, the language and the step, to this site. No identifier, and
       nothing kept in the browser for it: a reload that restores answers counts nothing. */
    const counted = new Set();
    const beacon = (step) => {
      if (counted.has(step) || !data.beacon || !navigator.sendBeacon) return;
      counted.add(step);
      try {
        navigator.sendBeacon(data.beacon, new URLSearchParams({ assessment: data.id, version: String(data.version), lang: data.lang, step }));
      } catch (error) {
        /* not counted */
      }
    };

    form.addEventListener("change", (event) => {
      if (!event.target.name.startsWith(data.prefix)) return;
      showPeers(null); /* it compared the answers as sent */
      beacon("started");
      update(true);
      if (!result.hidden) beacon("completed");
      save(readAll());
    });
    form.addEventListener("reset", () => {
      setTimeout(() => {
        try {
          localStorage.removeItem(data.storageKey);
        } catch (error) {
          /* nothing stored */
        }
        update(false);
        showPeers(null);
        status.textContent = data.strings.cleared;
        sent.textContent = "";
      });
    });
    form.addEventListener("submit", send);
    printButton.addEventListener("click", () => {
      document.body.classList.add("kb-print-result");
      window.print();
    });
    window.addEventListener("afterprint", () => document.body.classList.remove("kb-print-result"));
  }

  window.kennisbankAssessment = { score };
  for (const form of document.querySelectorAll("form[data-kb-assessment]")) mount(form);
})();
