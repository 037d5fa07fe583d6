// Seed 003's client example, all five sections, as written. Lines marked "changed" differ:
// the REST URLs get a host (CHAT_HTTP, chat-local's HTTP API: a relative URL means nothing
// outside a page), and the socket URL's host is CHAT_WS with the session and the dialect in
// its query, because an API Gateway WebSocket URL routes no path (a deployment with
// WS_DIALECT=chatbot needs no `dialect=`). Lines marked "the driver's" stand in for the
// page: its display functions, the chatbot the user picks, sending the example's message
// once the socket is open, and closing the session (section 5) once the reply is complete.

const userJwtToken = process.env.CHAT_TOKEN; // the driver's
let assistantMessage = ''; // the driver's
const displayMessage = (role, text, at) => console.log(`${role}: ${text}${at ? ` (${at})` : ''}`); // the driver's
const displayError = (text) => console.error(`error: ${text}`); // the driver's
const createNewAssistantMessage = () => { assistantMessage = ''; }; // the driver's
const appendToAssistantMessage = (chunk) => { assistantMessage += chunk; }; // the driver's
const finalizeAssistantMessage = (fullResponse) => { // the driver's
  displayMessage('assistant', fullResponse);
  console.log('the chunks add up to the full response:', fullResponse === assistantMessage);
  closeSession();
};

// User selects a chatbot from the UI
const chatbotId = process.env.CHAT_CHATBOT; // the driver's

// Create chat session (requires JWT token in Authorization header)
const sessionResponse = await fetch(`${process.env.CHAT_HTTP}/chatbot/${chatbotId}/session`, { // changed
    method: 'POST',
    headers: {
        'Authorization': `Bearer ${userJwtToken}`,
        'Content-Type': 'application/json'
    }
});

const sessionData = await sessionResponse.json();
console.log(sessionData);

// Connect to WebSocket with session ID and JWT token
const wsUrl = `${process.env.CHAT_WS}/ws/chat/${sessionData.session_id}?token=${userJwtToken}&session_id=${sessionData.session_id}&dialect=chatbot`; // changed
const socket = new WebSocket(wsUrl);

socket.onopen = () => {
    console.log('Connected to chat');
};

socket.onmessage = (event) => {
    const data = JSON.parse(event.data);
    
    switch(data.type) {
        case 'session_info':
            console.log('Session info:', data);
            displayMessage('system', data.message);
            break;
            
        case 'message_received':
            console.log('Message acknowledged:', data.message_id);
            break;
            
        case 'response_start':
            console.log('Assistant is responding...');
            createNewAssistantMessage(); // Create empty message bubble
            break;
            
        case 'response_chunk':
            appendToAssistantMessage(data.chunk); // Append chunk to current message
            break;
            
        case 'response_complete':
            console.log('Response complete:', data.message_id);
            finalizeAssistantMessage(data.full_response);
            break;
            
        case 'error':
            console.error('Chat error:', data.message);
            displayError(data.message);
            break;
    }
};

socket.onerror = (error) => {
    console.error('WebSocket error:', error);
};

socket.onclose = () => {
    console.log('WebSocket closed');
    clearTimeout(timeout); // the driver's
};

function sendMessage(messageText) {
    if (socket.readyState === WebSocket.OPEN) {
        const messageData = {
            message: messageText,
            message_type: "text"
        };
        
        socket.send(JSON.stringify(messageData));
        
        // Display user message immediately
        displayMessage('user', messageText);
    }
}

// Display previous messages from the session
function displayPreviousMessages(messages) {
    messages.forEach(msg => {
        displayMessage(msg.role, msg.message, msg.created_at);
    });
}

// Call this after creating session
displayPreviousMessages(sessionData.previous_messages);

// Gracefully close session when user navigates away
function closeSession() {
    if (sessionData?.session_id) {
        fetch(`${process.env.CHAT_HTTP}/chatbot/session/${sessionData.session_id}`, { // changed
            method: 'DELETE',
            headers: {
                'Authorization': `Bearer ${userJwtToken}`
            }
        }).then((response) => console.log('session closed:', response.status)); // the driver's
    }
    
    if (socket) {
        socket.close();
    }
}

// The driver's: the example's usage once the socket is open; fails after 10 s.
const timeout = setTimeout(() => { console.error('no reply in time'); process.exit(1); }, 10000);
socket.addEventListener('open', () => {
// Example usage
sendMessage("Hello, can you help me with my project?");
});
