// Import each BPMN file as bpmn.io does (bpmn-moddle) and print any warnings; exit 1 if there are any.
import { readFile } from 'node:fs/promises';
import { BpmnModdle } from 'bpmn-moddle';

let failed = false;
for (const file of process.argv.slice(2)) {
  const xml = await readFile(file, 'utf8');
  const { rootElement, warnings } = await new BpmnModdle().fromXML(xml);
  const diagrams = rootElement.diagrams || [];
  if (!diagrams.length) {
    console.log(`${file}: no diagram interchange (BPMNDI)`);
    failed = true;
  }
  for (const w of warnings) {
    console.log(`${file}: ${w.message}`);
    failed = true;
  }
}
process.exit(failed ? 1 : 0);
