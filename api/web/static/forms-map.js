// The map side of the split, merge and geometry-correction forms. The officer draws a dividing
// line or a new boundary on the map, uploads a file, or clicks parcels to merge; each change goes
// to the form's draft endpoint, where the core cuts and measures in EPSG:5899 (no geometry is
// computed here), and the answer — the children with their areas checked against the parent, the
// parcels picked, the old and new area — replaces the form's draft part and is drawn on the map.
// Without this script the same form works by upload and by typing parcel codes.
(function () {
  "use strict";
  var form = document.getElementById("change-form");
  var tools = document.getElementById("map-tools");
  var state = window.landdb;
  if (!form || !tools || !state || !state.map) { return; }
  var map = state.map;
  var mode = tools.dataset.mode;  // line (split), polygon (correction), pick (merge)
  var draftEl = document.getElementById("draft");
  var status = document.getElementById("sketch-state");
  var fileInput = document.getElementById("file");
  var lines = [];      // what is drawn: arrays of [lon, lat]
  var drawing = false;
  var pending = null;  // the draft request in flight
  var editing = false; // dragging the vertices of the boundary (correction)
  var markers = [];
  var COLORS = ["#1b9e77", "#d95f02", "#7570b3", "#e7298a", "#66a61e", "#e6ab02"];
  var empty = { type: "FeatureCollection", features: [] };

  tools.querySelectorAll(".js-only").forEach(function (el) { if (el.id !== "sketch-state") { el.hidden = false; } });
  var upload = tools.querySelector(".upload-button");
  if (upload) { upload.style.display = "none"; }  // a chosen file is sent at once

  function say(text) {
    if (!status) { return; }
    status.hidden = !text;
    status.textContent = text || "";
  }

  // --- layers: the draft (children, picked parcels, new boundary) and the sketch ---------------

  function addLayers() {
    if (map.getSource("draft")) { return; }
    map.addSource("draft", { type: "geojson", data: empty });
    map.addSource("sketch", { type: "geojson", data: empty });
    var colour = ["to-color", ["at", ["%", ["get", "n"], COLORS.length], ["literal", COLORS]]];
    map.addLayer({ id: "draft-fill", type: "fill", source: "draft", paint: { "fill-color": colour, "fill-opacity": 0.45 } });
    map.addLayer({ id: "draft-line", type: "line", source: "draft", paint: { "line-color": "#222222", "line-width": 2 } });
    map.addLayer({ id: "sketch-line", type: "line", source: "sketch", filter: ["!=", ["geometry-type"], "Point"],
                   paint: { "line-color": "#0b57d0", "line-width": 2.5, "line-dasharray": [2, 1] } });
    map.addLayer({ id: "sketch-points", type: "circle", source: "sketch", filter: ["==", ["geometry-type"], "Point"],
                   paint: { "circle-radius": 4, "circle-color": "#0b57d0", "circle-stroke-color": "#ffffff", "circle-stroke-width": 1 } });
  }

  function showSketch() {
    var features = [];
    lines.forEach(function (pts) {
      pts.forEach(function (p) { features.push({ type: "Feature", properties: {}, geometry: { type: "Point", coordinates: p } }); });
      if (pts.length >= 2) {
        var coords = mode === "polygon" ? pts.concat([pts[0]]) : pts;
        features.push({ type: "Feature", properties: {}, geometry: { type: "LineString", coordinates: coords } });
      }
    });
    if (map.getSource("sketch")) { map.getSource("sketch").setData({ type: "FeatureCollection", features: features }); }
  }

  function showDraft() {
    var shapes = draftEl.querySelector("#draft-shapes");
    var data = shapes ? JSON.parse(shapes.textContent) : empty;
    if (map.getSource("draft")) { map.getSource("draft").setData(data); }
    tools.dataset.shown = String(data.features.length);
  }

  // --- the draft endpoint ----------------------------------------------------------------------

  function send(extra, withFile) {
    var data = new FormData(form);
    if (!withFile) { data.delete("file"); }
    data.delete("action");
    Object.keys(extra).forEach(function (k) { data.set(k, extra[k]); });
    if (pending) { pending.abort(); }
    pending = new AbortController();
    tools.dataset.busy = "true";
    return fetch(tools.dataset.draftUrl, { method: "POST", body: data, credentials: "same-origin",
                                           headers: { "X-Fragment": "1" }, signal: pending.signal })
      .then(function (resp) { return resp.text(); })
      .then(function (html) {
        draftEl.innerHTML = html;
        afterDraft();
        tools.dataset.busy = "false";
      })
      .catch(function (e) { if (e.name !== "AbortError") { tools.dataset.busy = "false"; throw e; } });
  }

  function afterDraft() {
    // What was previewed is not what the form now holds: preview again before confirming.
    ["preview", "confirm"].forEach(function (id) { var el = document.getElementById(id); if (el) { el.remove(); } });
    var previewed = form.querySelector("input[name=previewed]");
    if (previewed) { previewed.remove(); }
    showDraft();
    bindAreas();
    if (editing) { placeMarkers(); }
  }

  // --- editing a boundary vertex by vertex: the server moves only the vertices dragged -----------

  function clearMarkers() {
    markers.forEach(function (m) { m.remove(); });
    markers = [];
  }

  function placeMarkers() {
    clearMarkers();
    var shapes = draftEl.querySelector("#draft-shapes");
    if (!shapes) { return; }
    var g = JSON.parse(shapes.textContent).features[0].geometry;
    var ring = (g.type === "MultiPolygon" ? g.coordinates[0][0] : g.coordinates[0]).slice(0, -1);
    ring.forEach(function (p, i) {
      var el = document.createElement("div");
      el.className = "vertex";
      el.dataset.i = String(i);
      el.title = String(i + 1);
      var m = new maplibregl.Marker({ element: el, draggable: true }).setLngLat(p).addTo(map);
      m.on("dragend", function () {
        var ll = m.getLngLat();
        send({ edit: JSON.stringify([{ i: i, lon: ll.lng, lat: ll.lat }]) }, false);
      });
      markers.push(m);
    });
    tools.dataset.vertices = String(ring.length);
  }

  function drawnGeometry() {
    var done = lines.filter(function (pts) { return pts.length >= (mode === "polygon" ? 3 : 2); });
    if (!done.length) { return null; }
    if (mode === "polygon") {
      return { type: "Polygon", coordinates: [done[done.length - 1].concat([done[done.length - 1][0]])] };
    }
    return { type: "MultiLineString", coordinates: done };
  }

  // --- clicks on the map -------------------------------------------------------------------------

  // The panel may be swapped for a card (web.js loads /parcel/… links in place): then the map is
  // the card's again — its clicks open cards and the draft leaves it.
  function gone() {
    if (document.body.contains(form)) { return false; }
    state.onMapClick = null;
    clearMarkers();
    ["draft", "sketch"].forEach(function (id) { if (map.getSource(id)) { map.getSource(id).setData(empty); } });
    map.doubleClickZoom.enable();
    map.getCanvas().style.cursor = "";
    return true;
  }

  state.onMapClick = function (ev) {
    if (gone()) { return false; }
    if (mode === "pick") {
      var hits = map.queryRenderedFeatures(ev.point, { layers: ["parcels-fill"] }).filter(function (f) {
        return f.properties && f.properties.parcel_code;
      });
      if (!hits.length) { say(tools.dataset.msgZoom); return true; }
      say("");
      send({ toggle: hits[0].properties.parcel_code, action: "draft" }, false);
      return true;
    }
    if (!drawing) { return true; }  // the form stays: a click elsewhere does not open a card
    lines[lines.length - 1].push([ev.lngLat.lng, ev.lngLat.lat]);
    showSketch();
    var g = drawnGeometry();
    if (g) { send(mode === "polygon" ? { drawn: JSON.stringify(g) } : { line: JSON.stringify(g) }, false); }
    return true;
  };

  tools.addEventListener("click", function (ev) {
    var b = ev.target.closest("button[data-sketch]");
    if (!b) { return; }
    if (b.dataset.sketch === "edit") {
      lines = [];
      drawing = false;
      editing = true;
      tools.dataset.drawing = "false";
      showSketch();
      // The boundary the form holds, or (none yet) the parcel's own, from the server in EPSG:5899.
      if (draftEl.querySelector("#draft-shapes")) { placeMarkers(); } else { send({ edit: "[]" }, false); }
      return;
    }
    editing = false;
    clearMarkers();
    if (b.dataset.sketch === "start") {
      if (mode === "polygon") { lines = []; }
      lines.push([]);
      drawing = true;
      map.doubleClickZoom.disable();
      map.getCanvas().style.cursor = "crosshair";
      tools.dataset.drawing = "true";
    } else {
      lines = [];
      drawing = false;
      map.doubleClickZoom.enable();
      map.getCanvas().style.cursor = "";
      tools.dataset.drawing = "false";
    }
    showSketch();
  });

  if (fileInput) {
    fileInput.addEventListener("change", function () {
      if (fileInput.files.length) { send({ action: "draft" }, true); }
    });
  }

  // --- the children's legal areas, summed as they are typed --------------------------------------

  function number(text) {
    var v = parseFloat(String(text || "").replace(/\s/g, "").replace(",", "."));
    return isFinite(v) ? v : 0;
  }

  function bindAreas() {
    var out = draftEl.querySelector("#legal-sum");
    if (!out) { return; }
    var inputs = draftEl.querySelectorAll("input.child-legal");
    function sum() {
      var total = 0;
      inputs.forEach(function (i) { total += number(i.value); });
      out.textContent = total.toFixed(1);
      var table = draftEl.querySelector("#children");
      var parent = table && table.dataset.parentLegal ? number(table.dataset.parentLegal) : null;
      out.classList.toggle("mismatch", parent !== null && Math.abs(total - parent) > 0.05);
    }
    inputs.forEach(function (i) { i.addEventListener("input", sum); });
    sum();
  }

  function start() {
    addLayers();
    showDraft();
    bindAreas();
    tools.dataset.ready = "true";
  }
  if (state.loaded) { start(); } else { map.once("load", start); }
}());
