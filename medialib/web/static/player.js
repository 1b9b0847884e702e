/* The staff film page's player: timecode links seek, storyboard scrub previews,
   and the live re-check of caption text as it is edited.

   The page works without this script: timecodes are plain #t= links and the
   editor's Check button re-checks on the server. Everything taken from the
   server is put into the page as text (textContent), never as HTML. */
(function () {
  "use strict";

  var player = document.getElementById("staff-player");

  /* --- seeking ----------------------------------------------------------- */

  function seek(seconds) {
    if (!player || !isFinite(seconds) || seconds < 0) {
      return false;
    }
    var go = function () {
      player.currentTime = seconds;
    };
    if (player.readyState >= 1) {
      go();
    } else {
      player.addEventListener("loadedmetadata", go, { once: true });
      if (player.preload === "none") {
        player.load();
      }
    }
    player.focus();
    return true;
  }

  document.addEventListener("click", function (event) {
    var link = event.target.closest ? event.target.closest("a[data-seek]") : null;
    if (!link || !player) {
      return;
    }
    if (seek(parseFloat(link.getAttribute("data-seek")))) {
      event.preventDefault();
    }
  });

  function seekFromHash() {
    var match = /^#t=([0-9]+(?:\.[0-9]+)?)$/.exec(window.location.hash);
    if (match) {
      seek(parseFloat(match[1]));
    }
  }
  window.addEventListener("hashchange", seekFromHash);
  seekFromHash();

  /* --- storyboard scrub previews ----------------------------------------- */

  function thumbnailsTrack() {
    if (!player) {
      return null;
    }
    for (var i = 0; i < player.textTracks.length; i++) {
      var track = player.textTracks[i];
      if (track.kind === "metadata" && track.label === "thumbnails") {
        return track;
      }
    }
    return null;
  }

  function cueAt(track, seconds) {
    var cues = track.cues;
    if (!cues) {
      return null;
    }
    for (var i = 0; i < cues.length; i++) {
      if (cues[i].startTime <= seconds && seconds < cues[i].endTime) {
        return cues[i];
      }
    }
    return null;
  }

  var preview = document.getElementById("staff-scrub-preview");
  var thumbs = thumbnailsTrack();
  if (player && preview && thumbs) {
    thumbs.mode = "hidden"; // load the cues without showing them
    var CONTROLS_HEIGHT = 56; // the native controls' strip at the bottom of the video
    player.addEventListener("mousemove", function (event) {
      var box = player.getBoundingClientRect();
      if (!player.duration || event.clientY < box.bottom - CONTROLS_HEIGHT) {
        preview.hidden = true;
        return;
      }
      var fraction = Math.min(Math.max((event.clientX - box.left) / box.width, 0), 1);
      var cue = cueAt(thumbs, fraction * player.duration);
      var parts = cue ? /^(\/media\/[^#"'()\\\s]+)#xywh=(\d+),(\d+),(\d+),(\d+)$/.exec(cue.text.trim()) : null;
      if (!parts) {
        preview.hidden = true;
        return;
      }
      var w = parseInt(parts[4], 10);
      var h = parseInt(parts[5], 10);
      preview.style.backgroundImage = 'url("' + parts[1] + '")';
      preview.style.backgroundPosition = "-" + parts[2] + "px -" + parts[3] + "px";
      preview.style.width = w + "px";
      preview.style.height = h + "px";
      var left = Math.min(Math.max(event.clientX - box.left - w / 2, 0), Math.max(box.width - w, 0));
      preview.style.left = left + "px";
      preview.hidden = false;
    });
    player.addEventListener("mouseleave", function () {
      preview.hidden = true;
    });
  }

  /* --- live re-check of caption text -------------------------------------- */

  function plural(n, word) {
    return n + " " + word + (n === 1 ? "" : "s");
  }

  function timeLabel(seconds) {
    var ms = Math.round(seconds * 1000);
    var pad = function (n, width) {
      var s = String(n);
      while (s.length < width) {
        s = "0" + s;
      }
      return s;
    };
    return pad(Math.floor(ms / 3600000), 2) + ":" + pad(Math.floor(ms / 60000) % 60, 2) + ":" +
      pad(Math.floor(ms / 1000) % 60, 2) + "." + pad(ms % 1000, 3);
  }

  function cell(row, text) {
    var td = document.createElement("td");
    td.textContent = text;
    row.appendChild(td);
    return td;
  }

  function findingsTable(findings) {
    var wrap = document.createElement("div");
    wrap.className = "table-scroll";
    var table = document.createElement("table");
    table.className = "findings-table";
    var caption = document.createElement("caption");
    caption.className = "visually-hidden";
    caption.textContent = "Caption findings";
    table.appendChild(caption);
    var head = table.createTHead().insertRow();
    ["Level", "Time", "Cue", "Line", "Rule", "Message"].forEach(function (name) {
      var th = document.createElement("th");
      th.scope = "col";
      th.textContent = name;
      head.appendChild(th);
    });
    var body = table.createTBody();
    findings.forEach(function (f) {
      var row = body.insertRow();
      var level = cell(row, "");
      var chip = document.createElement("span");
      chip.className = "chip " + (f.level === "error" ? "bad" : "wait");
      chip.textContent = f.level;
      level.appendChild(chip);
      var when = cell(row, f.start === null || f.start === undefined ? "—" : "");
      if (f.start !== null && f.start !== undefined) {
        var link = document.createElement("a");
        link.href = "#t=" + f.start;
        link.setAttribute("data-seek", String(f.start));
        var hidden = document.createElement("span");
        hidden.className = "visually-hidden";
        hidden.textContent = "Seek the player to ";
        link.appendChild(hidden);
        link.appendChild(document.createTextNode(f.time || timeLabel(f.start)));
        when.appendChild(link);
      }
      cell(row, f.cue === null || f.cue === undefined ? "—" : String(f.cue));
      cell(row, f.line === null || f.line === undefined ? "—" : String(f.line));
      cell(row, f.rule);
      cell(row, f.message);
    });
    wrap.appendChild(table);
    return wrap;
  }

  function showReport(target, report) {
    var summary = target.querySelector(".summary");
    var text = plural(report.errors, "error") + ", " + plural(report.warnings, "warning") + ", " +
      plural(report.cues, "cue") + (report.accepted ? "" : "; a browser rejects this file as a whole") +
      " (edited text, not saved).";
    var old = target.querySelector(".table-scroll");
    if (old) {
      old.remove();
    }
    if (report.findings.length) {
      target.appendChild(findingsTable(report.findings));
    }
    summary.textContent = text; // role=status: announced once, without reading the whole table
  }

  function showProblem(target, message) {
    var summary = target.querySelector(".summary");
    if (summary) {
      summary.textContent = message;
    }
  }

  Array.prototype.forEach.call(document.querySelectorAll("form[data-check-url]"), function (form) {
    var area = form.querySelector("textarea");
    var target = document.getElementById(form.getAttribute("data-findings"));
    var token = form.querySelector("input[name=csrf_token]");
    if (!area || !target || !token || !window.fetch) {
      return;
    }
    var timer = null;
    var latest = 0;
    var check = function () {
      var mine = ++latest;
      fetch(form.getAttribute("data-check-url"), {
        method: "POST",
        credentials: "same-origin",
        headers: { "Content-Type": "application/json", "X-CSRF-Token": token.value },
        body: JSON.stringify({ text: area.value })
      }).then(function (response) {
        return response.json().then(function (body) {
          return { ok: response.ok, body: body };
        });
      }).then(function (result) {
        if (mine !== latest) {
          return; // an older answer arriving after a newer request
        }
        if (result.ok) {
          showReport(target, result.body);
        } else {
          var why = result.body && result.body.error ? result.body.error : "the server refused";
          showProblem(target, "Not checked: " + why);
        }
      }).catch(function () {
        if (mine === latest) {
          showProblem(target, "The live check could not reach the server; use the Check button.");
        }
      });
    };
    area.addEventListener("input", function () {
      window.clearTimeout(timer);
      timer = window.setTimeout(check, 600);
    });
  });
})();
