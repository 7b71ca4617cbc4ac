/**
 * Which tab wants which conversation, so that the socket the tabs share stays subscribed while
 * any of them still wants a conversation: one tab's `unsubscribe` must not end another's typing.
 * Subscribes always go through (the server answers each with `subscribed` and who is typing).
 */
export class SharedSubscriptions {
    wanted = new Map();
    /** Whether this tab's frame should go on the socket. */
    admit(tab, frame) {
        if (frame.type === "subscribe") {
            let tabs = this.wanted.get(frame.conversation_id);
            if (tabs === undefined)
                this.wanted.set(frame.conversation_id, (tabs = new Set()));
            tabs.add(tab);
            return true;
        }
        if (frame.type === "unsubscribe") {
            const tabs = this.wanted.get(frame.conversation_id);
            tabs?.delete(tab);
            if (tabs !== undefined && tabs.size > 0)
                return false;
            this.wanted.delete(frame.conversation_id);
        }
        return true;
    }
    /** A tab left: the conversations no tab wants any more, to unsubscribe from. */
    leave(tab) {
        const unwanted = [];
        for (const [conversationId, tabs] of this.wanted) {
            if (!tabs.delete(tab) || tabs.size > 0)
                continue;
            this.wanted.delete(conversationId);
            unwanted.push(conversationId);
        }
        return unwanted;
    }
}
