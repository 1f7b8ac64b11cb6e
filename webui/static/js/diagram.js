// Show an audit's BPMN diagrams with bpmn-js, marking completed, current and overdue steps.
(function () {
  'use strict'
  var container = document.getElementById('diagrams')
  if (!container || !window.BpmnJS) { return }

  function mark (canvas, registry, ids, marker) {
    ids.forEach(function (id) {
      if (registry.get(id)) { canvas.addMarker(id, marker) }
    })
  }

  function show (diagram, index) {
    var heading = document.createElement('h3')
    heading.className = 'govuk-heading-s'
    heading.textContent = diagram.name
    var box = document.createElement('div')
    box.className = 'app-diagram'
    box.id = 'diagram-' + index
    box.setAttribute('role', 'figure')
    box.setAttribute('aria-label', 'Process diagram: ' + diagram.name +
      '. Current steps: ' + (diagram.current.join(', ') || 'none') + '.')
    container.appendChild(heading)
    container.appendChild(box)
    var viewer = new window.BpmnJS({ container: box })
    return viewer.importXML(diagram.xml).then(function () {
      var canvas = viewer.get('canvas')
      var registry = viewer.get('elementRegistry')
      mark(canvas, registry, diagram.completed, 'qa-completed')
      mark(canvas, registry, diagram.current, 'qa-current')
      mark(canvas, registry, diagram.overdue, 'qa-overdue')
      // Size the box to the diagram's shape so a wide process is not drawn tiny.
      var inner = canvas.viewbox().inner
      if (inner.width > 0) {
        var height = box.clientWidth * inner.height / inner.width + 40
        box.style.height = Math.max(200, Math.min(640, height)) + 'px'
        canvas.resized()
      }
      canvas.zoom('fit-viewport', 'auto')
      box.setAttribute('data-ready', 'true')
    })
  }

  fetch(container.getAttribute('data-url'), { credentials: 'same-origin' })
    .then(function (response) {
      if (!response.ok) { throw new Error('The diagram could not be loaded') }
      return response.json()
    })
    .then(function (diagrams) {
      container.innerHTML = ''
      return Promise.all(diagrams.map(show))
    })
    .then(function () { container.setAttribute('data-ready', 'true') })
    .catch(function (error) {
      container.innerHTML = ''
      var p = document.createElement('p')
      p.className = 'govuk-body'
      p.textContent = 'The diagram could not be shown (' + error.message + '). The open tasks and history say where the audit is.'
      container.appendChild(p)
      container.setAttribute('data-ready', 'error')
    })
})()
