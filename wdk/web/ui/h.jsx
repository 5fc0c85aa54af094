// A tiny virtual DOM: h() builds plain objects and render() patches the live
// DOM in place, node by node. Patching instead of rebuilding is what lets the
// page refresh every two seconds without closing an open <details>, losing
// focus and the caret in an input, or jumping the scroll position.
//
//   render(<p class="note">{count} runs</p>, document.getElementById("app"));
//
// Props: `class`, any attribute; `on*` handlers (set as properties, so a
// re-render swaps them without leaking listeners); `value`/`checked` (set as
// properties); `style` as an object; `key`: children with keys are matched by
// key, not position, and a node whose key changes is built anew (so per-run
// state such as open <details> resets on another run's page).

const Fragment = Symbol("Fragment");

function h(tag, props, ...children) {
  if (typeof tag === "function") {
    const out = tag({ ...(props || {}), children: flatten(children) });
    // <Part key="x" /> keys the element the component returns.
    if (props && props.key !== undefined && out && out.props) out.props = { ...out.props, key: props.key };
    return out;
  }
  if (tag === Fragment) return flatten(children);
  return { tag, props: props || {}, children: flatten(children) };
}

function flatten(list, out = []) {
  for (const child of list) {
    if (Array.isArray(child)) flatten(child, out);
    else if (child === null || child === undefined || child === false || child === true) continue;
    else if (typeof child === "object") out.push(child);
    else out.push({ text: String(child) });
  }
  return out;
}

function render(vnode, container) {
  patchChildren(container, flatten([vnode]));
}

function create(v) {
  if (v.text !== undefined) return document.createTextNode(v.text);
  const el = document.createElement(v.tag);
  // Children first: a <select>'s value can only be set once its options exist.
  patchChildren(el, v.children);
  setProps(el, v.props, {});
  return el;
}

function sameKind(node, v) {
  if (v.text !== undefined) return node.nodeType === Node.TEXT_NODE;
  return node.nodeType === Node.ELEMENT_NODE && node.localName === v.tag && node._key === v.props.key;
}

function patch(node, v) {
  if (v.text !== undefined) {
    if (node.nodeValue !== v.text) node.nodeValue = v.text;
    return;
  }
  patchChildren(node, v.children);
  setProps(node, v.props, node._props || {});
}

// A keyed vnode is matched with the child of the same key wherever it is (and
// moved into place); the others with the unkeyed children, in order. So a part
// that appears (a run's result once it ends) does not shift its siblings onto
// each other's nodes.
function patchChildren(parent, vnodes) {
  const keyed = new Map();
  const unkeyed = [];
  for (const node of Array.from(parent.childNodes)) {
    if (node._key !== undefined) keyed.set(node._key, node);
    else unkeyed.push(node);
  }
  let next = 0;
  vnodes.forEach((v, i) => {
    const key = v.props ? v.props.key : undefined;
    let node;
    if (key !== undefined) {
      node = keyed.get(key);
      keyed.delete(key);
    } else {
      node = unkeyed[next++];
    }
    if (node && sameKind(node, v)) {
      patch(node, v);
    } else {
      if (node) node.remove();
      node = create(v);
    }
    // The first i children are placed already; this one goes at i.
    const here = parent.childNodes[i];
    if (here !== node) parent.insertBefore(node, here || null);
  });
  for (const node of keyed.values()) node.remove();
  for (; next < unkeyed.length; next++) unkeyed[next].remove();
}

const LIVE_PROPS = new Set(["value", "checked"]);

function setProps(el, props, old) {
  for (const name in old) if (!(name in props)) setProp(el, name, null, old[name]);
  for (const name in props) {
    // value/checked are compared with the live element: the user may have changed them.
    if (props[name] !== old[name] || LIVE_PROPS.has(name)) setProp(el, name, props[name], old[name]);
  }
  el._props = props;
  el._key = props.key;
}

function setProp(el, name, value, old) {
  if (name === "key" || name === "children") return;
  if (name.startsWith("on")) {
    el[name.toLowerCase()] = value || null;
  } else if (LIVE_PROPS.has(name)) {
    const want = name === "checked" ? Boolean(value) : value == null ? "" : String(value);
    if (el[name] !== want) el[name] = want;
  } else if (name === "style") {
    // Through the CSSOM: the page's CSP forbids style attributes.
    for (const key in old || {}) if (!value || !(key in value)) el.style.removeProperty(key);
    for (const key in value || {}) el.style.setProperty(key, value[key]);
  } else if (value === null || value === undefined || value === false) {
    el.removeAttribute(name);
  } else {
    el.setAttribute(name, value === true ? "" : String(value));
  }
}
