// Edit one BPMN file with the bpmn-js modeler: check it on the server, show problems against
// their elements, change deadlines, conditions, scripts and forms, then continue to deploy.
const SPIFF = 'http://spiffworkflow.org/bpmn/schema/1.0/core'
const box = document.getElementById('modeler')
const Modeler = window.BpmnJS

const els = {
  summary: document.getElementById('check-summary'),
  result: document.getElementById('check-result'),
  check: document.getElementById('check-button'),
  next: document.getElementById('continue-button'),
  form: document.getElementById('element-form'),
  review: document.getElementById('review-form')
}
let marked = []

function csrf () {
  return els.review.querySelector('input[name=csrf_token]').value
}

function base64 (text) {
  const bytes = new TextEncoder().encode(text)
  let binary = ''
  for (let i = 0; i < bytes.length; i += 0x8000) {
    binary += String.fromCharCode.apply(null, bytes.subarray(i, i + 0x8000))
  }
  return btoa(binary)
}

function problemText (p) {
  return p.file + (p.element && p.element !== '-' ? ', ' + p.element : '') + ': ' + p.reason
}

function badge () {
  const span = document.createElement('span')
  span.className = 'app-problem-badge'
  span.textContent = 'Problem'
  return span
}

function clearMarks (modeler) {
  modeler.get('overlays').remove({ type: 'qa-problem' })
  const canvas = modeler.get('canvas')
  const registry = modeler.get('elementRegistry')
  for (const id of marked) {
    if (registry.get(id)) { canvas.removeMarker(id, 'qa-problem') }
  }
  marked = []
}

function focusElement (modeler, id) {
  const element = modeler.get('elementRegistry').get(id)
  if (!element) { return }
  const canvas = modeler.get('canvas')
  canvas.zoom(1)
  canvas.scrollToElement(element)
  modeler.get('selection').select(element)
}

// A GOV.UK error summary, built the way the govukErrorSummary macro renders one.
function showProblems (modeler, problems, file) {
  const registry = modeler.get('elementRegistry')
  const canvas = modeler.get('canvas')
  clearMarks(modeler)
  const summary = els.summary
  summary.replaceChildren()
  els.result.replaceChildren()
  if (!problems.length) {
    summary.hidden = true
    const panel = document.createElement('div')
    panel.className = 'govuk-panel govuk-panel--confirmation app-panel--small'
    const title = document.createElement('p')
    title.className = 'govuk-panel__title app-panel__title--small'
    title.textContent = 'No problems found'
    panel.append(title)
    els.result.append(panel)
    return
  }
  const wrapper = document.createElement('div')
  wrapper.className = 'govuk-error-summary'
  wrapper.setAttribute('data-module', 'govuk-error-summary')
  const alert = document.createElement('div')
  alert.setAttribute('role', 'alert')
  const title = document.createElement('h2')
  title.className = 'govuk-error-summary__title'
  title.textContent = 'There is a problem'
  const body = document.createElement('div')
  body.className = 'govuk-error-summary__body'
  const list = document.createElement('ul')
  list.className = 'govuk-list govuk-error-summary__list'
  for (const p of problems) {
    const item = document.createElement('li')
    const onDiagram = p.file === file && registry.get(p.element)
    if (onDiagram) {
      if (!marked.includes(p.element)) {
        canvas.addMarker(p.element, 'qa-problem')
        modeler.get('overlays').add(p.element, 'qa-problem', { position: { top: -26, left: -4 }, scale: { min: 1 }, html: badge() })
        marked.push(p.element)
      }
      const link = document.createElement('a')
      link.href = '#modeler'
      link.textContent = problemText(p)
      link.addEventListener('click', (event) => {
        event.preventDefault()
        focusElement(modeler, p.element)
        box.focus()
      })
      item.append(link)
    } else {
      item.textContent = problemText(p)
    }
    list.append(item)
  }
  body.append(list)
  alert.append(title, body)
  wrapper.append(alert)
  summary.append(wrapper)
  summary.hidden = false
  document.title = 'Error: ' + document.title.replace(/^Error: /, '')
  summary.focus()
}

async function check (modeler) {
  const { xml } = await modeler.saveXML({ format: true })
  els.result.textContent = 'Checking…'
  const response = await fetch(box.dataset.checkUrl, {
    method: 'POST',
    credentials: 'same-origin',
    headers: { 'Content-Type': 'application/json', 'X-CSRFToken': csrf() },
    body: JSON.stringify({ file: box.dataset.file, xml })
  })
  if (!response.ok) {
    els.result.textContent = 'The check could not be run (' + response.status + '). Try again.'
    return
  }
  const { problems } = await response.json()
  showProblems(modeler, problems, box.dataset.file)
  box.setAttribute('data-checked', String(problems.length))
}

async function proceed (modeler) {
  const { xml } = await modeler.saveXML({ format: true })
  els.review.querySelector('input[name=file_b64]').value = base64(xml)
  els.review.submit()
}

// -- the selected element's details ------------------------------------------------------

function spiffProperties (bo) {
  const values = (bo.extensionElements && bo.extensionElements.values) || []
  return values.find((v) => v.$type === 'spiffworkflow:properties')
}

function spiffProperty (bo, name) {
  const props = spiffProperties(bo)
  const found = props && (props.$children || []).find((c) => c.name === name)
  return found ? found.value : ''
}

function setSpiffProperty (modeler, bo, name, value) {
  const moddle = modeler.get('moddle')
  let props = spiffProperties(bo)
  if (!props) {
    if (!value) { return }
    props = moddle.createAny('spiffworkflow:properties', SPIFF, { $children: [] })
    if (!bo.extensionElements) {
      bo.extensionElements = moddle.create('bpmn:ExtensionElements', { values: [] })
      bo.extensionElements.$parent = bo
    }
    bo.extensionElements.values.push(props)
  }
  props.$children = props.$children || []
  const found = props.$children.find((c) => c.name === name)
  if (found && value) {
    found.value = value
  } else if (found) {
    props.$children.splice(props.$children.indexOf(found), 1)
  } else if (value) {
    props.$children.push(moddle.createAny('spiffworkflow:property', SPIFF, { name, value }))
  }
}

function timerOf (bo) {
  const defs = bo.eventDefinitions || []
  return defs.find((d) => d.$type === 'bpmn:TimerEventDefinition')
}

function fieldsFor (bo) {
  const fields = { name: bo.name || '' }
  if (bo.$type === 'bpmn:SequenceFlow') {
    fields.condition = bo.conditionExpression ? bo.conditionExpression.body || '' : ''
  }
  const timer = timerOf(bo)
  if (timer) {
    const expr = timer.timeDate || timer.timeDuration || timer.timeCycle
    fields.timer = expr ? expr.body || '' : ''
  }
  if (bo.$type === 'bpmn:ScriptTask') { fields.script = bo.script || '' }
  if (bo.$type === 'bpmn:UserTask') {
    fields.form = spiffProperty(bo, 'formJsonSchemaFilename')
    fields.assignee = spiffProperty(bo, 'assignee')
  }
  return fields
}

function showDetails (element) {
  const form = els.form
  if (!element || element.type === 'label') { form.hidden = true; return }
  const bo = element.businessObject
  const fields = fieldsFor(bo)
  form.dataset.element = element.id
  document.getElementById('element-id').textContent = bo.id
  for (const group of form.querySelectorAll('[data-field]')) {
    const key = group.dataset.field
    group.hidden = !(key in fields)
    const input = group.querySelector('input, textarea')
    input.value = key in fields ? fields[key] : ''
  }
  form.hidden = false
}

function applyDetails (modeler) {
  const element = modeler.get('elementRegistry').get(els.form.dataset.element)
  if (!element) { return }
  const modeling = modeler.get('modeling')
  const moddle = modeler.get('moddle')
  const bo = element.businessObject
  const value = (name) => els.form.querySelector('[name=' + name + ']').value
  const fields = fieldsFor(bo)
  if (value('name') !== fields.name) { modeling.updateLabel(element, value('name')) }
  if ('condition' in fields && value('condition') !== fields.condition) {
    const body = value('condition').trim()
    modeling.updateProperties(element, {
      conditionExpression: body ? moddle.create('bpmn:FormalExpression', { body }) : undefined
    })
  }
  if ('timer' in fields && value('timer') !== fields.timer) {
    const timer = timerOf(bo)
    const kind = timer.timeDuration ? 'timeDuration' : timer.timeCycle ? 'timeCycle' : 'timeDate'
    const expr = moddle.create('bpmn:FormalExpression', { body: value('timer').trim() })
    modeling.updateModdleProperties(element, timer, { [kind]: expr })
  }
  if ('script' in fields && value('script') !== fields.script) {
    modeling.updateProperties(element, { script: value('script') })
  }
  if ('form' in fields) {
    setSpiffProperty(modeler, bo, 'formJsonSchemaFilename', value('form').trim())
    setSpiffProperty(modeler, bo, 'assignee', value('assignee').trim())
  }
  els.result.textContent = 'Applied to ' + (bo.name || bo.id) + '. Check for problems again before deploying.'
}

async function start () {
  box.replaceChildren()
  const modeler = new Modeler({ container: box })
  try {
    const response = await fetch(box.dataset.xmlUrl, { credentials: 'same-origin' })
    if (!response.ok) { throw new Error('the file could not be loaded') }
    const [diagram] = await response.json()
    await modeler.importXML(diagram.xml)
    modeler.get('canvas').zoom('fit-viewport', 'auto')
  } catch (error) {
    box.textContent = 'The modeler could not open the file (' + error.message + ').'
    box.setAttribute('data-ready', 'error')
    return
  }
  modeler.on('selection.changed', ({ newSelection }) => {
    showDetails(newSelection.length === 1 ? newSelection[0] : null)
  })
  els.form.addEventListener('submit', (event) => { event.preventDefault(); applyDetails(modeler) })
  els.check.addEventListener('click', () => check(modeler).catch((e) => {
    els.result.textContent = 'The check could not be run (' + e.message + ').'
  }))
  els.next.addEventListener('click', () => proceed(modeler))
  box.setAttribute('data-ready', 'true')
}

if (box && Modeler) { start() }
