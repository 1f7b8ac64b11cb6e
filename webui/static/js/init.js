// Start GOV.UK Frontend's components (error summary focus, character count, buttons...).
import { initAll } from '../vendor/govuk/govuk-frontend.min.js'

initAll()
