// What a failed call means to the user, by the API's error code
// (docs/WORKSPACE.md and docs/openapi.yaml).

import { t } from './i18n.js';

/** The message for a failed call, by the API's error code. */
export function errorText(err) {
  switch (err && err.code) {
    case 'invalid_credentials':
      return t('login.err.invalid');
    case 'locked':
      return t('login.err.locked', { seconds: err.retryAfter || 60 });
    case 'rate_limited':
      return t('login.err.rateLimited', { seconds: err.retryAfter || 60 });
    case 'network':
      return t('err.network.body');
    case 'invalid_request':
      return t('err.invalid', { message: err.message || '' });
    case 'device_code':
      return err.attemptsLeft === 0 ? t('devices.err.removed') : t('devices.err.wrong', { n: err.attemptsLeft ?? '?' });
    case 'device_pending':
      return t('device.waiting');
    case 'csrf':
    case 'forbidden':
      return t('err.forbidden');
    default:
      if (err && err.name === 'KdfParamsError') return t('err.kdf');
      return t('err.generic', { code: (err && err.code) || (err && err.name) || '?' });
  }
}
