// The web application's script: the map (MapLibre GL JS over the OGC vector tiles), the panel
// swapped in place (search results, parcel card), the card's tabs, the "as of" date and the
// pointer's coordinates.
// Every link and form also works without it, as a plain page.
(function () {
  "use strict";

  // VN-2000 / TM-3 107-45 with the datum shift of EPSG:6960 (as PROJ's default transformation).
  proj4.defs("EPSG:5899", "+proj=tmerc +lat_0=0 +lon_0=107.75 +k=0.9999 +x_0=500000 +y_0=0 +ellps=WGS84 " +
    "+towgs84=-191.90441429,-39.30318279,-111.45032835,0.00928836,-0.01975479,0.00427372,0.252906278 +units=m +no_defs");

  var mapEl = document.getElementById("map");
  var panel = document.getElementById("panel");
  var asOfInput = document.getElementById("at");
  var state = { at: mapEl.dataset.at || "", map: null, loaded: false, pendingCard: null };
  var HA_LONG = [[106.95, 20.93], [107.15, 21.02]];
  var SELECTED = "#0047b3";  // the parcel in the panel: apart from the ward boundaries' red
  window.landdb = state;  // for tests and the curious

  // --- the panel ---------------------------------------------------------------------------

  function withAt(url) {
    var u = new URL(url, location.href);
    if (state.at) { u.searchParams.set("at", state.at); } else { u.searchParams.delete("at"); }
    return u;
  }

  function load(url, push) {
    var u = withAt(url);
    return fetch(u, { headers: { "X-Fragment": "1" }, credentials: "same-origin" }).then(function (resp) {
      return resp.text().then(function (html) {
        var finalUrl = new URL(resp.url);
        panel.innerHTML = html;
        var root = panel.firstElementChild;
        if (root && root.dataset.title) { document.title = root.dataset.title; }
        if (push) { history.pushState({}, "", finalUrl.pathname + finalUrl.search); }
        afterPanel();
        panel.focus();
      });
    });
  }

  function afterPanel() {
    initTabs();
    var registered = panel.querySelector("[data-tiles-version]");
    if (registered) { refreshTiles(registered.dataset.tilesVersion); }
    var card = document.getElementById("card");
    if (card) {
      showCard(JSON.parse(card.dataset.geometry), JSON.parse(card.dataset.bbox));
    } else {
      showCard(null, null);
    }
  }

  document.addEventListener("click", function (ev) {
    var a = ev.target.closest && ev.target.closest("a[href]");
    if (!a || !panel.contains(a) || a.target || ev.ctrlKey || ev.metaKey || ev.shiftKey) { return; }
    var u = new URL(a.href, location.href);
    if (u.origin !== location.origin || !/^\/(parcel\/[^/]+$|search$)/.test(u.pathname)) { return; }
    ev.preventDefault();
    load(u, true);
  });

  document.getElementById("search-form").addEventListener("submit", function (ev) {
    ev.preventDefault();
    var form = ev.target;
    var u = new URL(form.action, location.href);
    new FormData(form).forEach(function (v, k) { if (v !== "" && k !== "at") { u.searchParams.set(k, v); } });
    load(u, true);
  });

  document.getElementById("asof-form").addEventListener("submit", function (ev) {
    ev.preventDefault();
    setAt(asOfInput.value);
  });

  function setAt(value) {
    state.at = value || "";
    mapEl.dataset.at = state.at;
    document.querySelectorAll("input[type=hidden][name=at]").forEach(function (i) { i.value = state.at; });
    var u = withAt(location.href);
    history.replaceState({}, "", u.pathname + u.search);
    refreshLayers();
    if (/^\/(parcel\/|search)/.test(location.pathname)) { load(u, false); }
  }

  window.addEventListener("popstate", function () { load(location.href, false); });

  // --- tabs (WAI-ARIA tabs pattern: arrows, Home, End) --------------------------------------

  function initTabs() {
    panel.querySelectorAll("[role=tablist]").forEach(function (list) {
      var tabs = Array.prototype.slice.call(list.querySelectorAll("[role=tab]"));
      function select(tab, focus) {
        tabs.forEach(function (t) {
          var on = t === tab;
          t.setAttribute("aria-selected", on ? "true" : "false");
          t.tabIndex = on ? 0 : -1;
          document.getElementById(t.getAttribute("aria-controls")).hidden = !on;
        });
        if (focus) { tab.focus(); }
      }
      tabs.forEach(function (t, i) {
        t.type = "button";
        t.addEventListener("click", function () { select(t, false); });
        t.addEventListener("keydown", function (ev) {
          var next = null;
          if (ev.key === "ArrowRight") { next = tabs[(i + 1) % tabs.length]; }
          if (ev.key === "ArrowLeft") { next = tabs[(i - 1 + tabs.length) % tabs.length]; }
          if (ev.key === "Home") { next = tabs[0]; }
          if (ev.key === "End") { next = tabs[tabs.length - 1]; }
          if (next) { ev.preventDefault(); select(next, true); }
        });
      });
      list.parentElement.classList.add("tabs-on");
      select(tabs.filter(function (t) { return t.getAttribute("aria-selected") === "true"; })[0] || tabs[0], false);
    });
  }

  // --- the map -------------------------------------------------------------------------------

  // Parcels and wards come from the OGC vector tiles, drawn with their published style
  // (/ogc/styles/landdb); "as of" asks for the style, and so the tiles, of that day.
  var styleUrl = mapEl.dataset.styleUrl;
  function styleFor(at) {
    var u = new URL(styleUrl, location.href);
    if (at) { u.searchParams.set("at", at); }
    return u.toString();
  }
  var empty = { type: "FeatureCollection", features: [] };

  // After a registration the tiles it touched have changed (their ETags say so) but the page
  // may hold the old ones, and a cache with max-age may too: tile URLs then carry the journal seq
  // of that registration (`v=`), which the tile endpoint ignores and caches key on.
  function tileRequest(url, kind) {
    if (kind !== "Tile" || !state.tilesVersion) { return { url: url }; }
    var u = new URL(url, location.href);
    u.searchParams.set("v", state.tilesVersion);
    return { url: u.toString() };
  }

  function refreshTiles(version) {
    if (!version || state.tilesVersion === version) { return; }
    state.tilesVersion = version;
    if (!state.loaded) { return; }  // tiles not asked yet: they will carry it
    Object.keys(map.getStyle().sources).forEach(function (id) {
      var src = map.getSource(id);
      if (src && src.type === "vector" && src.tiles) { src.setTiles(src.tiles.slice()); }
    });
  }

  // MapLibre's canvas is a region of its own: its name ("Map.Title") says what the keyboard does
  // there, apart from the map's (landmarks' names must differ); the controls speak the page's language.
  var map = new maplibregl.Map({
    container: mapEl,
    style: styleFor(state.at),
    bounds: HA_LONG,
    attributionControl: false,
    keyboard: true,
    transformRequest: tileRequest,
    locale: {
      "Map.Title": mapEl.dataset.msgCanvas,
      "NavigationControl.ZoomIn": mapEl.dataset.msgZoomIn,
      "NavigationControl.ZoomOut": mapEl.dataset.msgZoomOut
    }
  });
  state.refreshTiles = refreshTiles;
  state.map = map;
  state.selected = empty;
  state.styleAt = state.at;
  map.addControl(new maplibregl.NavigationControl({ showCompass: false }), "top-right");
  map.addControl(new maplibregl.ScaleControl({ unit: "metric", maxWidth: 120 }), "bottom-left");

  // The parcel shown in the panel, outlined on top of whichever style is loaded.
  map.on("style.load", function () {
    if (!map.getSource("selected")) {
      map.addSource("selected", { type: "geojson", data: state.selected });
      map.addLayer({ id: "selected-line", type: "line", source: "selected", paint: { "line-color": SELECTED, "line-width": 3 } });
    }
  });

  function parcelsMinZoom() {
    var layer = map.getLayer("parcels-fill");
    return layer ? layer.minzoom || 0 : 0;
  }

  // Resolves when the map has drawn the tiles of the current view and day.
  function drawn() {
    mapEl.classList.toggle("zoom-hint", map.getZoom() < parcelsMinZoom());
    return new Promise(function (resolve) {
      map.once("idle", function () { mapEl.dataset.parcelsAt = state.styleAt; resolve(); });
      map.triggerRepaint();
    });
  }

  function refreshLayers() {
    if (!state.loaded) { return; }
    mapEl.dataset.ready = "false";
    if (state.styleAt !== state.at) { state.styleAt = state.at; map.setStyle(styleFor(state.at)); }
    drawn().then(function () { mapEl.dataset.ready = "true"; });
  }

  map.on("load", function () {
    state.loaded = true;
    refreshLayers();
    if (state.pendingCard) { showCard.apply(null, state.pendingCard); }
  });
  map.on("moveend", function () {
    if (!state.loaded) { return; }
    mapEl.dataset.ready = "false";
    drawn().then(function () { mapEl.dataset.ready = "true"; });
  });
  map.on("mouseenter", "parcels-fill", function () { map.getCanvas().style.cursor = "pointer"; });
  map.on("mouseleave", "parcels-fill", function () { map.getCanvas().style.cursor = ""; });

  map.on("click", function (ev) {
    // A form that draws on the map or picks parcels (forms-map.js) takes the click.
    if (state.onMapClick && state.onMapClick(ev)) { return; }
    // The tiles carry each parcel's code from z15 on; on the z14 overview (land use only) the
    // server finds the parcel at the point.
    var hits = map.queryRenderedFeatures(ev.point, { layers: ["parcels-fill"] }).filter(function (f) {
      return f.properties && f.properties.parcel_code;
    });
    if (hits.length) {
      state.lastClick = "tiles";
      load("/parcel/" + encodeURIComponent(hits[0].properties.parcel_code), true);
    } else {
      state.lastClick = "server";
      var u = new URL(mapEl.dataset.parcelAtUrl, location.href);
      u.searchParams.set("lon", ev.lngLat.lng.toFixed(7));
      u.searchParams.set("lat", ev.lngLat.lat.toFixed(7));
      load(u, true);
    }
  });

  var outVn = document.getElementById("coord-vn2000");
  var outWgs = document.getElementById("coord-wgs84");
  map.on("mousemove", function (ev) {
    var ll = [ev.lngLat.lng, ev.lngLat.lat];
    var en = proj4("EPSG:4326", "EPSG:5899", ll);
    outVn.textContent = "E " + en[0].toFixed(2) + " m, N " + en[1].toFixed(2) + " m";
    outWgs.textContent = ll[1].toFixed(6) + "° N, " + ll[0].toFixed(6) + "° E";
    outVn.dataset.e = en[0]; outVn.dataset.n = en[1];
    outWgs.dataset.lon = ll[0]; outWgs.dataset.lat = ll[1];
  });

  function showCard(geometry, bbox) {
    if (!state.loaded) { state.pendingCard = [geometry, bbox]; return; }
    state.selected = geometry ? { type: "Feature", geometry: geometry, properties: {} } : empty;
    if (map.getSource("selected")) { map.getSource("selected").setData(state.selected); }
    if (bbox) {
      map.fitBounds([[bbox[0], bbox[1]], [bbox[2], bbox[3]]], { padding: 80, maxZoom: 19, duration: 0 });
    }
  }

  afterPanel();
})();
