// Show a process version's diagram, or a rejected draft's diagram with its problem elements outlined.
const Viewer = window.BpmnJS

function fit (viewer, box) {
  const canvas = viewer.get('canvas')
  const inner = canvas.viewbox().inner
  if (inner.width > 0) {
    const height = box.clientWidth * inner.height / inner.width + 40
    box.style.height = Math.max(200, Math.min(640, height)) + 'px'
    canvas.resized()
  }
  canvas.zoom('fit-viewport', 'auto')
}

async function show (box, xml, marked) {
  const viewer = new Viewer({ container: box })
  await viewer.importXML(xml)
  const canvas = viewer.get('canvas')
  const registry = viewer.get('elementRegistry')
  for (const id of marked) {
    if (!registry.get(id)) { continue }
    canvas.addMarker(id, 'qa-problem')
    const span = document.createElement('span')
    span.className = 'app-problem-badge'
    span.textContent = 'Problem'
    viewer.get('overlays').add(id, { position: { top: -26, left: -4 }, scale: { min: 1 }, html: span })
  }
  fit(viewer, box)
  box.setAttribute('data-ready', 'true')
}

function explain (box, error) {
  const p = document.createElement('p')
  p.className = 'govuk-body'
  p.textContent = 'The diagram could not be shown (' + error.message + ').'
  box.replaceChildren(p)
  box.setAttribute('data-ready', 'error')
}

async function versionDiagrams (container) {
  try {
    const response = await fetch(container.dataset.url, { credentials: 'same-origin' })
    if (!response.ok) { throw new Error('it could not be loaded') }
    const diagrams = await response.json()
    container.replaceChildren()
    for (const [index, d] of diagrams.entries()) {
      const heading = document.createElement('h3')
      heading.className = 'govuk-heading-s'
      heading.textContent = d.file
      const box = document.createElement('div')
      box.className = 'app-diagram'
      box.id = 'diagram-' + index
      box.setAttribute('role', 'figure')
      box.setAttribute('aria-label', 'Process diagram in ' + d.file)
      container.append(heading, box)
      await show(box, d.xml, [])
    }
    container.setAttribute('data-ready', 'true')
  } catch (error) {
    explain(container, error)
  }
}

if (Viewer) {
  const container = document.getElementById('diagrams')
  if (container) { versionDiagrams(container) }
  for (const box of document.querySelectorAll('.app-draft-diagram')) {
    show(box, box.dataset.xml, JSON.parse(box.dataset.marked || '[]')).catch((e) => explain(box, e))
  }
}
