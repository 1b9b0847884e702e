// Resumable, chunked cut upload with a progress bar (medialib/web/maker.py documents the API).
// Without this script the form posts the file as multipart data and the page reloads.
"use strict";
(function () {
  var CHUNK = 8 * 1024 * 1024;
  var RETRY_DELAYS = [1, 2, 4, 8, 15, 30, 30, 30, 60, 60]; // seconds between attempts after a broken connection

  var form = document.getElementById("cut-upload");
  if (!form || !window.XMLHttpRequest || !window.fetch || !window.Blob || !Blob.prototype.slice) return;
  var input = document.getElementById("cut-file");
  var label = document.getElementById("cut-label");
  var submit = document.getElementById("cut-submit");
  var box = document.getElementById("upload-progress");
  var bar = document.getElementById("upload-bar");
  var status = document.getElementById("upload-status");
  var cancelButton = document.getElementById("upload-cancel");
  var csrf = form.querySelector("input[name=csrf_token]").value;
  var current = null; // {id, xhr, cancelled}

  function megabytes(n) { return (n / 1e6).toLocaleString(undefined, {maximumFractionDigits: 1}) + " MB"; }

  function say(text) { status.textContent = text; }

  function showError(message) {
    var p = document.getElementById("cut-error");
    if (!p) {
      p = document.createElement("p");
      p.id = "cut-error";
      p.className = "error";
      p.setAttribute("role", "alert");
      form.parentNode.insertBefore(p, form);
    }
    p.textContent = message;
    input.setAttribute("aria-describedby", "upload-hint cut-error");
  }

  function clearError() {
    var p = document.getElementById("cut-error");
    if (p) p.parentNode.removeChild(p);
    input.setAttribute("aria-describedby", "upload-hint");
  }

  function sleep(seconds) { return new Promise(function (resolve) { setTimeout(resolve, seconds * 1000); }); }

  function Fatal(message) { this.message = message; }

  async function api(method, url, body) {
    var options = {method: method, credentials: "same-origin", headers: {"X-CSRF-Token": csrf, "Accept": "application/json"}};
    if (body !== undefined) {
      options.headers["Content-Type"] = "application/json";
      options.body = JSON.stringify(body);
    }
    var response = await fetch(url, options);
    var data = {};
    try { data = await response.json(); } catch (e) { /* no body */ }
    return {status: response.status, data: data};
  }

  function errorOf(result) { return (result.data && result.data.error) || ("the server answered " + result.status); }

  function storageKey(file) {
    return "medialib-upload:" + form.dataset.film + ":" + file.name + ":" + file.size + ":" + file.lastModified;
  }

  function remember(key, id) { try { localStorage.setItem(key, id); } catch (e) { /* private mode */ } }
  function forget(key) { try { localStorage.removeItem(key); } catch (e) { /* private mode */ } }
  function recalled(key) { try { return localStorage.getItem(key); } catch (e) { return null; } }

  // Start a new upload, or resume the one this browser began for the same file.
  async function begin(file, key) {
    var id = recalled(key);
    if (id) {
      var known = await api("GET", "/api/uploads/" + id);
      if (known.status === 200 && known.data.size === file.size) return known.data;
      forget(key);
    }
    var started = await api("POST", form.dataset.start, {size: file.size, name: file.name, label: label.value});
    if (started.status !== 201) throw new Fatal(errorOf(started));
    remember(key, started.data.id);
    return started.data;
  }

  // One chunk from offset; resolves to the new offset, rejects with {status, message} or {network: true}.
  function sendChunk(file, id, offset, total) {
    return new Promise(function (resolve, reject) {
      var xhr = new XMLHttpRequest();
      current.xhr = xhr;
      xhr.open("PUT", "/api/uploads/" + id);
      xhr.setRequestHeader("X-CSRF-Token", csrf);
      xhr.setRequestHeader("Upload-Offset", String(offset));
      xhr.setRequestHeader("Content-Type", "application/offset+octet-stream");
      xhr.upload.onprogress = function (event) { progress(offset + event.loaded, total); };
      xhr.onload = function () {
        var data = {};
        try { data = JSON.parse(xhr.responseText); } catch (e) { /* not JSON */ }
        if (xhr.status === 200) resolve(data.offset);
        else reject({status: xhr.status, message: data.error || ("the server answered " + xhr.status)});
      };
      xhr.onerror = xhr.ontimeout = function () { reject({network: true}); };
      xhr.onabort = function () { reject({aborted: true}); };
      xhr.send(file.slice(offset, Math.min(offset + CHUNK, total)));
    });
  }

  var lastSaid = -1;
  function progress(done, total) {
    var percent = total ? Math.floor(done * 100 / total) : 100;
    bar.value = percent;
    bar.textContent = percent + "%";
    if (percent >= lastSaid + 10 || percent === 100) { // a screen reader hears every tenth, not every change
      lastSaid = percent - (percent % 10);
      say("Uploaded " + megabytes(done) + " of " + megabytes(total) + " (" + percent + "%).");
    }
  }

  async function serverOffset(id) {
    var known = await api("GET", "/api/uploads/" + id);
    if (known.status !== 200) throw new Fatal(errorOf(known));
    return known.data.offset;
  }

  async function transfer(file, upload) {
    var offset = upload.offset, attempt = 0;
    while (offset < file.size) {
      if (current.cancelled) throw {aborted: true};
      try {
        offset = await sendChunk(file, upload.id, offset, file.size);
        attempt = 0;
      } catch (problem) {
        if (problem.aborted || current.cancelled) throw {aborted: true};
        if (problem.status === 409) { offset = await serverOffset(upload.id); continue; }
        if (problem.status && problem.status < 500) throw new Fatal(problem.message);
        if (attempt >= RETRY_DELAYS.length) throw new Fatal("the connection keeps failing; choose the file again later to resume");
        say("The connection broke; trying again in " + RETRY_DELAYS[attempt] + " s (the upload resumes where it stopped).");
        await sleep(RETRY_DELAYS[attempt++]);
        try { offset = await serverOffset(upload.id); } catch (e) { if (e instanceof Fatal) throw e; }
      }
    }
  }

  async function upload(file) {
    var key = storageKey(file);
    current = {id: null, xhr: null, cancelled: false};
    clearError();
    submit.disabled = true;
    box.hidden = false;
    lastSaid = -1;
    say("Starting the upload of " + file.name + ".");
    try {
      var started = await begin(file, key);
      current.id = started.id;
      progress(started.offset, file.size);
      for (;;) {
        await transfer(file, started);
        say("Checking the video (this can take a moment for a large file).");
        var finished = await api("POST", "/api/uploads/" + started.id + "/finish");
        if (finished.status === 409) { started.offset = await serverOffset(started.id); continue; }
        forget(key);
        if (finished.status !== 200) throw new Fatal(errorOf(finished));
        say(finished.data.notice);
        window.location.assign(finished.data.page + "?notice=" + encodeURIComponent(finished.data.notice) + "#processing");
        return;
      }
    } catch (problem) {
      if (problem && problem.aborted) {
        if (current.id) { await api("DELETE", "/api/uploads/" + current.id); forget(key); }
        say("Upload cancelled.");
      } else {
        showError(problem instanceof Fatal ? problem.message : "the upload stopped: " + problem);
        say("The upload stopped.");
      }
      submit.disabled = false;
      box.hidden = true;
      input.focus();
    }
  }

  form.addEventListener("submit", function (event) {
    var file = input.files && input.files[0];
    if (!file) return; // the browser's own required-field message
    event.preventDefault();
    upload(file);
  });

  cancelButton.addEventListener("click", function () {
    if (!current) return;
    current.cancelled = true;
    if (current.xhr) current.xhr.abort();
  });
})();
