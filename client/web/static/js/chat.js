// The chat panel: a log of messages (kept in memory only, never stored),
// an unread badge on the chat button while the panel is closed, and the
// form that sends through Call.sendChat (sealed with the chat key).

import { $ } from './dom.js';
import { t, onLanguageChange } from './i18n.js';

export class ChatPanel {
  constructor(call) {
    this.call = call;
    this.unread = 0;
    this.peerName = '';
    $('btn-chat').onclick = () => this.toggle();
    $('chat-close').onclick = () => this.toggle(false);
    $('chat-form').onsubmit = (ev) => {
      ev.preventDefault();
      this.send();
    };
    $('chat-input').onkeydown = (ev) => {
      // Enter sends, Shift+Enter starts a new line.
      if (ev.key === 'Enter' && !ev.shiftKey && !ev.isComposing) {
        ev.preventDefault();
        this.send();
      }
    };
    call.addEventListener('chat', (ev) => this.add(ev.detail.text, ev.detail.mine, ev.detail.name));
    call.addEventListener('chat-error', () => this.system(t('chat.undecryptable')));
    call.addEventListener('chat-state', (ev) => this.setReady(ev.detail.ready));
    call.addEventListener('peer-name', (ev) => { this.peerName = ev.detail.name; });
    onLanguageChange(() => this.renderBadge());
    this.setReady(false);
  }

  get open() {
    return !$('chat-panel').hidden;
  }

  toggle(force) {
    const open = force ?? !this.open;
    $('chat-panel').hidden = !open;
    $('btn-chat').setAttribute('aria-expanded', String(open));
    if (open) {
      this.unread = 0;
      this.renderBadge();
      $('chat-input').focus();
    } else {
      $('btn-chat').focus();
    }
  }

  setReady(ready) {
    $('chat-send').disabled = !ready;
    $('chat-input').title = ready ? '' : t('chat.notReady');
  }

  async send() {
    const text = $('chat-input').value.trim();
    if (!text) return;
    try {
      await this.call.sendChat(text);
      $('chat-input').value = '';
    } catch {
      this.system(t('chat.notReady'));
    }
  }

  /** name: the sender's (conferences); a consultation has one peer. */
  add(text, mine, name = '') {
    const li = document.createElement('li');
    li.className = mine ? 'mine' : 'theirs';
    const who = document.createElement('span');
    who.className = 'who';
    who.textContent = mine ? t('chat.you') : name || this.peerName || t(this.call.conference ? 'conf.someone' : 'call.theOther');
    li.append(who, document.createTextNode(text));
    const log = $('chat-log');
    log.append(li);
    log.scrollTop = log.scrollHeight;
    if (!mine && !this.open) {
      this.unread++;
      this.renderBadge();
    }
  }

  system(text) {
    const li = document.createElement('li');
    li.className = 'system';
    li.textContent = text;
    $('chat-log').append(li);
  }

  renderBadge() {
    const badge = $('chat-badge');
    badge.hidden = this.unread === 0;
    badge.textContent = String(this.unread);
    if (this.unread > 0) $('btn-chat').setAttribute('aria-label', t('call.chatUnread', { n: this.unread }));
    else $('btn-chat').removeAttribute('aria-label');
  }
}
