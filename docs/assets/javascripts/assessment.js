/* Contract self-assessment: progress, live score, saving in localStorage, printing
   and sending with fetch. The form works without this script; the script reads the
   weights and bands the build embedded (one source: the definition file) and scores
   with the same whole-number arithmetic as kennisbank/assessment/scoring.py. */
(() => {
  "use strict";

  const percentage = (earned, possible) => Math.floor((200 * earned + possible) / (2 * possible));
  const fill = (text, values) => text.replace(/\{(\w+)\}/g, (m, key) => (key in values ? values[key] : m));

  /* answers: {questionId: value} for every question. */
  function score(data, answers) {
    const top = Math.max(...data.values);
    const part = (questions) =>
      percentage(
        questions.reduce((sum, q) => sum + q.weight * answers[q.id], 0),
        questions.reduce((sum, q) => sum + q.weight * top, 0)
      );
    const total = part(data.questions);
    const themes = {};
    for (const theme of data.themes) themes[theme] = part(data.questions.filter((q) => q.theme === theme));
    return {
      score: total,
      band: data.bands.find((band) => band.min <= total && total <= band.max).id,
      themes,
      weak: data.questions.filter((q) => answers[q.id] < top).map((q) => q.id),
    };
  }

  function mount(form) {
    const data = JSON.parse(form.querySelector("[data-kb-data]").textContent);
    const find = (selector) => form.querySelector(selector);
    const findAll = (selector) => [...form.querySelectorAll(selector)];
    const status = find("[data-kb-status]");
    const sent = find("[data-kb-sent]");
    const result = find("[data-kb-result]");
    const progress = find("[data-kb-progress]");
    const printButton = find("[data-kb-print]");
    const submitButton = find("button[type=submit]");
    const total = data.questions.length;

    const read = () => {
      const answers = {};
      for (const q of data.questions) {
        const checked = form.querySelector(`input[name="${data.prefix}${q.id}"]:checked`);
        if (checked) answers[q.id] = Number(checked.value);
      }
      return answers;
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
      for (const q of data.questions) {
        if (data.values.includes(stored[q.id])) answers[q.id] = stored[q.id];
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

    const show = (answers, outcome) => {
      find("[data-kb-score]").textContent = fill(data.strings.score_value, { score: outcome.score });
      for (const band of findAll("[data-kb-band]")) band.hidden = band.dataset.kbBand !== outcome.band;
      for (const item of findAll("[data-kb-theme]")) {
        const theme = item.dataset.kbTheme;
        const title = find(`#${form.id}-theme-${theme}`).textContent;
        item.querySelector("[data-kb-theme-text]").textContent = fill(data.strings.theme_score, { theme: title, score: outcome.themes[theme] });
        item.querySelector(".kb-bar-fill").setAttribute("width", outcome.themes[theme]);
      }
      for (const item of findAll("[data-kb-advice]")) {
        const id = item.dataset.kbAdvice;
        item.hidden = !outcome.weak.includes(id);
        item.querySelector("[data-kb-answer-label]").textContent = data.labels[answers[id]];
      }
      for (const cell of findAll("[data-kb-answer]")) cell.textContent = data.labels[answers[cell.dataset.kbAnswer]];
    };

    const update = (announce) => {
      const answers = read();
      const answered = Object.keys(answers).length;
      progress.querySelector("progress").value = answered;
      find("[data-kb-progress-text]").textContent = fill(data.strings.progress, { answered, total });
      const complete = answered === total;
      result.hidden = !complete;
      printButton.hidden = !complete;
      if (!complete) return answers;
      const outcome = score(data, answers);
      show(answers, outcome);
      if (announce) {
        const band = find(`[data-kb-band="${outcome.band}"] h4`).textContent;
        status.textContent = `${fill(data.strings.score_value, { score: outcome.score })}: ${band}`;
      }
      return answers;
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
        } else if (response.status === 409) {
          /* the site was rebuilt since this page was loaded: the answers are saved on
             every change, so a reload brings them back into the new form */
          save(read());
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
    if (Object.keys(restored).length) status.textContent = fill(data.strings.restored, { answered: Object.keys(restored).length });

    form.addEventListener("change", (event) => {
      if (!event.target.name.startsWith(data.prefix)) return;
      save(update(true));
    });
    form.addEventListener("reset", () => {
      setTimeout(() => {
        try {
          localStorage.removeItem(data.storageKey);
        } catch (error) {
          /* nothing stored */
        }
        update(false);
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
